import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.ts';
import { createLogger } from '../../platform/logger/logger.ts';
import { createOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { freePort, startRedis, stopRedis } from '../../test/own-redis.ts';
import { waitFor } from '../realtime/testing/cluster.ts';

// Issue 17, finding 11: a reset request must not tell, by its answer or its timing, who has an account. Proven
// without a timing threshold: the request issues the same Redis commands for both and no SQL at all.

describe('passwordReset.request', () => {
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

  it('does the same work for an email with an account as for one without, and none in the database', async () => {
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
      /** The Redis commands that name the email (with the email, ids and times made neutral), and the SQL count. */
      const request = async (email: string) => {
        const from = seen.length;
        lines.length = 0;
        const res = await app.inject({
          method: 'POST',
          url: '/trpc/passwordReset.request',
          headers: { 'content-type': 'application/json' },
          payload: { json: { email } },
        });
        expect(res.statusCode, res.body).toBe(200);
        // Everything the request sent has reached MONITOR once a command sent after it has.
        const done = `done-${randomBytes(4).toString('hex')}`;
        await marker.echo(done);
        await waitFor(() => seen.slice(from).some((a) => a.includes(done)), 'MONITOR to catch up');
        const commands = seen
          .slice(from)
          .filter((args) => args.some((a) => a.includes(email)))
          .map((args) =>
            args.map((a) =>
              a
                .replaceAll(email, '<email>')
                .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
                .replace(/00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/g, '<traceparent>')
                .replace(/\d{10,}/g, '<time>'),
            ),
          );
        const logged = lines.map((l) => JSON.parse(l) as { msg: string; queries?: number });
        return { commands, queries: logged.find((l) => l.msg === 'request')?.queries };
      };
      const known = await request(org.owner.email);
      const unknown = await request(`nobody-${randomBytes(4).toString('hex')}@example.test`);
      expect(known.queries).toBe(0);
      expect(unknown.queries).toBe(0);
      expect(unknown.commands).toEqual(known.commands);
      // The per-email limit and one queued mail job carrying the address.
      expect(known.commands.some((c) => c.join(' ').includes('"template":"password-reset"'))).toBe(true);
    } finally {
      monitor.disconnect();
      connection.disconnect();
      marker.disconnect();
      await app.close();
    }
  });
});
