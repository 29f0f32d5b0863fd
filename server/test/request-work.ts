import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../app.ts';
import { waitFor } from '../modules/realtime/testing/cluster.ts';
import { createTestEnv, type TestEnv } from './harness.ts';
import { LogCapture } from './http.ts';
import { freePort, startRedis, stopRedis } from './own-redis.ts';

// For tests that prove, without a timing threshold, that two requests do the same work (issue 17, finding 11): what
// each one sent to Redis and how many SQL statements it ran.

/** What one request did. */
export interface RequestWork {
  res: LightMyRequestResponse;
  /** Every Redis command sent while it ran (and only those: the Redis is the test's own). */
  commands: string[][];
  /** The count of SQL statements on its request log line. */
  queries: number | undefined;
}

export interface WorkProbe {
  env: TestEnv;
  /** Sends one request and waits until MONITOR has seen everything it sent. */
  send(req: InjectOptions): Promise<RequestWork>;
  close(): Promise<void>;
}

/** An app on a Redis of its own, so that MONITOR sees only this test's commands. */
export async function startWorkProbe(): Promise<WorkProbe> {
  const port = await freePort();
  const redis: ChildProcess = await startRedis(port);
  const logs = new LogCapture();
  const env = await createTestEnv(
    { REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'info' },
    { logStream: logs },
  );
  const app = await buildApp(env.deps);
  const url = env.config.redisUrl!;
  const connection = new Redis(url, { lazyConnect: true });
  // monitor() opens a connection of its own in monitor mode.
  const monitor = await connection.monitor();
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
  const marker = new Redis(url);
  return {
    env,
    async send(req) {
      const from = seen.length;
      logs.lines.length = 0;
      const res = await app.inject(req);
      // Everything the request sent has reached MONITOR once a command sent after it has.
      const done = `done-${randomBytes(4).toString('hex')}`;
      await marker.echo(done);
      await waitFor(() => seen.slice(from).some((a) => a.includes(done)), 'MONITOR to catch up');
      const line = logs.lines.find((l) => l.msg === 'request');
      return { res, commands: seen.slice(from), queries: line?.queries as number | undefined };
    },
    async close() {
      monitor.disconnect();
      connection.disconnect();
      marker.disconnect();
      await app.close();
      await env.close();
      await stopRedis(redis);
    },
  };
}

/** A command's arguments with ids and times made neutral, so that two requests' commands compare equal. */
export const neutral = (args: string[]): string[] =>
  args.map((a) =>
    a
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}/g, '<traceparent>')
      .replace(/\d{10,}/g, '<time>'),
  );
