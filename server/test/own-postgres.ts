import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './own-redis.ts';

// A PostgreSQL cluster of the test's own, for tests that stop the database under a running Keel (the shared one
// must stay up for every other test file). PostgreSQL refuses to run as root, so when the tests run as root (CI
// does) its programs run as the `postgres` user, which owns the data directory.

const run = promisify(execFile);

export async function binDir(): Promise<string> {
  // Debian's pg_config names /usr/lib/postgresql/<version>/bin, where initdb and pg_ctl are (not on PATH).
  const { stdout } = await run('pg_config', ['--bindir']);
  return stdout.trim();
}

export const asRoot = process.getuid?.() === 0;

/** Runs a PostgreSQL program as the cluster's owner. */
export async function pg(bin: string, program: string, args: string[]): Promise<void> {
  const file = path.join(bin, program);
  if (asRoot) await run('runuser', ['-u', 'postgres', '--', file, ...args]);
  else await run(file, args);
}

export interface OwnPostgres {
  /** postgres:// URL of the `postgres` database (trust authentication, superuser `postgres`). */
  url: string;
  port: number;
  start(): Promise<void>;
  /** `fast` (the default): clients are disconnected and the server shuts down cleanly, as an operator's stop. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Stops it if running and deletes the cluster. */
  destroy(): Promise<void>;
}

/** initdb's a new cluster in a temporary directory and starts it on a free port, listening on 127.0.0.1 only. */
export async function startPostgres(): Promise<OwnPostgres> {
  const bin = await binDir();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keel-pg-'));
  const data = path.join(dir, 'data');
  if (asRoot) await chown(dir, ...(await postgresIds()));
  await pg(bin, 'initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  let running = false;
  const self: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await pg(bin, 'pg_ctl', [
        '-D',
        data,
        '-l',
        path.join(dir, 'log'),
        '-w',
        '-o',
        `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=50`,
        'start',
      ]);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await pg(bin, 'pg_ctl', ['-D', data, '-w', '-m', mode, 'stop']);
      running = false;
    },
    async destroy() {
      await self.stop('immediate').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}

export async function postgresIds(): Promise<[number, number]> {
  const { stdout } = await run('id', ['-u', 'postgres']);
  const { stdout: gid } = await run('id', ['-g', 'postgres']);
  return [Number(stdout.trim()), Number(gid.trim())];
}
