import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entities } from '../../modules/entities.ts';
import { startPostgres, type OwnPostgres } from '../../test/own-postgres.ts';
import { appErrorOf } from '../errors/shape.ts';
import { withDbScope } from './context.ts';
import { createOrm, rootEm, type Orm } from './orm.ts';
import { CLIENT_GRACE_MS } from './pg-bounds.ts';

// Issue 18 (gap 5): a database connection that hangs without being cut (a paused or wedged server, a network that
// drops packets) was bounded only by the job's timeout, or not at all for a request. Every pooled connection now
// carries statement_timeout, and the client stops waiting CLIENT_GRACE_MS later and drops the connection. The
// server here is a cluster of the test's own, paused with SIGSTOP (every process of it) and resumed with SIGCONT.

const run = promisify(execFile);
const STATEMENT_TIMEOUT_MS = 1_000;

let pg: OwnPostgres;
let orm: Orm;
let paused: number[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  orm = await createOrm({
    databaseUrl: pg.url,
    pgliteDir: '',
    entities,
    poolMax: 2,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
  });
}, 120_000);
afterAll(async () => {
  await signal('CONT', paused);
  await orm?.close(true);
  await pg?.destroy();
});

// Through the EntityManager, whose driver turns pg's errors into MikroORM's exceptions as every ORM call does.
const sql = <T = unknown>(text: string) => withDbScope(rootEm(orm), undefined, (em) => em.execute<T[]>(text));

const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the statement to fail');
    },
    (err: unknown) => err,
  );

/** The cluster's processes: the postmaster (first line of postmaster.pid) and its children. */
async function clusterPids(): Promise<number[]> {
  const [{ data_directory: dir }] = (await sql<{ data_directory: string }>('show data_directory')) as [
    { data_directory: string },
  ];
  const postmaster = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const { stdout } = await run('ps', ['--ppid', String(postmaster), '-o', 'pid=']);
  return [
    postmaster,
    ...stdout
      .split('\n')
      .filter((l) => l.trim())
      .map(Number),
  ];
}

async function signal(sig: 'STOP' | 'CONT', pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, `SIG${sig}`);
    } catch {
      // Gone already (a backend that ended).
    }
  }
}

describe('database bounds', () => {
  it('a statement running past statement_timeout is cancelled by the server: a retryable 503, not a 500', async () => {
    const err = await failureOf(sql('select pg_sleep(30)'));
    expect((err as { code?: string }).code).toBe('57014');
    expect(appErrorOf(err)?.code).toBe('SERVICE_UNAVAILABLE');
  });

  it(
    'a paused server: statements end with a typed error while it is still paused; once resumed, the pool works and no abandoned transaction is left',
    async () => {
      expect(await sql('select 1 as one')).toEqual([{ one: 1 }]);
      paused = await clusterPids();
      await signal('STOP', paused);
      // Both run while every process of the server is stopped: if either waited for the server, the test would
      // time out here (the server is resumed only after both have failed).
      const [plain, inTransaction] = await Promise.all([
        failureOf(sql('select 1')),
        failureOf(
          withDbScope(rootEm(orm), undefined, (em) =>
            em.transactional(async (tx) => {
              await tx.execute('select 1');
            }),
          ),
        ),
      ]);
      for (const err of [plain, inTransaction]) {
        expect(appErrorOf(err)?.code, String(err)).toBe('SERVICE_UNAVAILABLE');
      }
      await signal('CONT', paused);
      paused = [];

      // The connections that timed out were dropped, not handed to the next caller.
      expect(await sql('select 2 as two')).toEqual([{ two: 2 }]);
      const idleInTransaction = async () =>
        Number(
          (
            (await sql<{ n: string }>(
              `select count(*)::text as n from pg_stat_activity where state like 'idle in transaction%'`,
            )) as [{ n: string }]
          )[0].n,
        );
      let n = await idleInTransaction();
      for (let i = 0; i < 50 && n > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        n = await idleInTransaction();
      }
      expect(n).toBe(0);
    },
    30_000 + 4 * CLIENT_GRACE_MS,
  );
});
