import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { asRoot, binDir, pg as runPg, postgresIds, type OwnPostgres } from './own-postgres.ts';
import { freePort } from './own-redis.ts';

// A streaming replica of a test's own PostgreSQL (own-postgres.ts): `pg_basebackup -R` from the primary (initdb's
// pg_hba.conf already trusts replication connections from 127.0.0.1, and PostgreSQL 15's wal_level is `replica`),
// then a second server in hot standby on its own port. `recovery_min_apply_delay` makes lag visible on demand.

export interface OwnReplica {
  /** postgres:// URL of `database` on the replica. */
  urlOf(database: string): string;
  port: number;
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Holds back replay of each commit by ms (0: none), applied by a reload. */
  setApplyDelay(ms: number): Promise<void>;
  destroy(): Promise<void>;
}

export async function startReplica(primary: OwnPostgres): Promise<OwnReplica> {
  const bin = await binDir();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keel-pg-replica-'));
  const data = path.join(dir, 'data');
  if (asRoot) await chown(dir, ...(await postgresIds()));
  await runPg(bin, 'pg_basebackup', [
    '-D',
    data,
    '-R',
    '-X',
    'stream',
    '-c',
    'fast',
    '-h',
    '127.0.0.1',
    '-p',
    String(primary.port),
    '-U',
    'postgres',
  ]);
  const port = await freePort();
  let running = false;
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const self: OwnReplica = {
    urlOf,
    port,
    async start() {
      await runPg(bin, 'pg_ctl', [
        '-D',
        data,
        '-l',
        path.join(dir, 'log'),
        '-w',
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=50 -c hot_standby=on`,
        'start',
      ]);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await runPg(bin, 'pg_ctl', ['-D', data, '-w', '-m', mode, 'stop']);
      running = false;
    },
    async setApplyDelay(ms) {
      // ALTER SYSTEM writes postgresql.auto.conf (no WAL), so it works on a standby; the setting takes a reload.
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        await client.query(`alter system set recovery_min_apply_delay = '${Math.max(0, Math.trunc(ms))}ms'`);
        await client.query('select pg_reload_conf()');
      } finally {
        await client.end();
      }
    },
    async destroy() {
      await self.stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
