import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { createLogger } from '../../platform/logger/logger.ts';
import { createOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { freePort, startRedis, stopRedis } from '../../test/own-redis.ts';
import { waitFor } from '../realtime/testing/cluster.ts';
import { PendingRegistration } from './pending-registration.entity.ts';

// Issue 17, finding 11: a registration must not tell, by its answer or its timing, whether the address has an
// account. Proven without a timing threshold: the request issues the same Redis commands and the same number of SQL
// statements for both, and the same answer.

describe('auth.register', () => {
  let redis: ChildProcess;
  let own: TestEnv;

  beforeAll(async () => {
    // A Redis of its own, so that MONITOR sees only this test's commands.
    const port = await freePort();
    redis = await startRedis(port);
    own = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await own?.close();
    if (redis) await stopRedis(redis);
  });

  it('does the same work for an email with an account as for one without', async () => {
    const lines: string[] = [];
    // The request log line (with its count of SQL statements) is written through the app's logger.
    own.deps.logger = createLogger({
      level: 'info',
      pretty: false,
      stream: new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      }),
    });
    const app = await buildApp(own.deps);
    const url = own.config.redisUrl!;
    const connection = new Redis(url, { lazyConnect: true });
    // monitor() opens a connection of its own in monitor mode.
    const monitor = await connection.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    const marker = new Redis(url);
    try {
      const org = await createOrg(own.deps);
      /**
       * The answer, the Redis commands of the request (its rate limit and its mail job, found by the pending
       * registration's id; ids and times made neutral) and its count of SQL statements.
       */
      const register = async (email: string) => {
        const from = seen.length;
        lines.length = 0;
        const res = await app.inject({
          method: 'POST',
          url: '/trpc/auth.register',
          headers: { 'content-type': 'application/json' },
          payload: {
            json: { email, password: 'a long enough password', name: 'Nora', organizationName: 'Nora Co' },
          },
        });
        expect(res.statusCode, res.body).toBe(200);
        // Everything the request sent has reached MONITOR once a command sent after it has.
        const done = `done-${randomBytes(4).toString('hex')}`;
        await marker.echo(done);
        await waitFor(() => seen.slice(from).some((a) => a.includes(done)), 'MONITOR to catch up');
        const [pending] = await withDbScope(own.deps.em, undefined, (em) =>
          em.find(PendingRegistration, { email }, { orderBy: { createdAt: 'desc' }, limit: 1 }),
        );
        const commands = seen
          .slice(from)
          .filter((args) => args.some((a) => a.includes(pending!.id) || a.includes(':register:')))
          .map((args) =>
            args.map((a) =>
              a
                .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
                .replace(/00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/g, '<traceparent>')
                .replace(/\d{10,}/g, '<time>'),
            ),
          );
        const logged = lines.map((l) => JSON.parse(l) as { msg: string; queries?: number });
        return { body: res.body, commands, queries: logged.find((l) => l.msg === 'request')?.queries };
      };
      // A first request loads the scripts into Redis (EVAL, then EVALSHA): not part of the comparison.
      await register(`warm-up-${randomBytes(4).toString('hex')}@example.test`);
      const known = await register(org.owner.email);
      const unknown = await register(`nobody-${randomBytes(4).toString('hex')}@example.test`);
      expect(unknown.body).toBe(known.body);
      expect(unknown.queries).toBe(known.queries);
      expect(known.queries).toBeGreaterThan(0);
      expect(unknown.commands).toEqual(known.commands);
      // The rate limit and one queued mail job carrying the registration's id (never the address).
      expect(known.commands.some((c) => c.join(' ').includes('"template":"registration"'))).toBe(true);
      expect(known.commands.some((c) => c.join(' ').includes(org.owner.email))).toBe(false);
    } finally {
      monitor.disconnect();
      connection.disconnect();
      marker.disconnect();
      await app.close();
    }
  });
});
