import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { fixtureRegistry, holdJob } from './fixtures/jobs.ts';
import { startWorker as spawnWorker } from './fixtures/processes.ts';
import { queueSettingsFor } from './settings.ts';
import { QueueSystem } from './system.ts';

let env: TestEnv;
let system: QueueSystem;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  system = new QueueSystem({
    config: env.config,
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry: fixtureRegistry(),
    settings: queueSettingsFor('test'),
  });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await system.close();
  await env.close();
});

const startWorker = (concurrency: number, graceMs: number) =>
  spawnWorker(env, children, concurrency, graceMs);

async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const redis = () => env.deps.redis.get('queue');
const p = () => env.config.keyPrefix;
const num = async (key: string) => Number((await redis().get(`${p()}${key}`)) ?? 0);

describe('worker processes', () => {
  it('kill -9 mid-job: the job is picked up again and completes; its effect is applied once', async () => {
    const first = startWorker(2, 2_000);
    await first.ready;
    const r = await system.dispatch(holdJob, { key: 'k9', holdMs: 60_000 });
    await until(() => num('fx:starts:k9'), 'the first attempt to start');
    first.proc.kill('SIGKILL');
    await first.exited;
    // The job sits in `active` with nobody renewing it; the next worker's leader finds it stalled and requeues it.
    const second = startWorker(2, 2_000);
    await second.ready;
    const done = await until(async () => {
      const j = await system.index.get(r.id!);
      return j?.status === 'completed' ? j : null;
    }, 'the job to complete on the second worker');
    expect(await num('fx:starts:k9')).toBe(2);
    expect(await num('fx:effects')).toBe(1);
    expect(await num('fx:completions:k9')).toBe(1);
    // A crash is not the job's fault: the attempt of the killed worker is not counted against its tries.
    expect(done.attempts).toBe(1);
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('SIGTERM during 100 running jobs: finished ones complete, the rest return to the queue; none lost, none run twice', async () => {
    const worker = startWorker(100, 1_500);
    await worker.ready;
    const keys = Array.from({ length: 100 }, (_, i) => `t${i}`);
    // Half finish inside the grace time; half would take 30 s and are handed back.
    const ids = await system.dispatchMany(
      keys.map((key, i) => ({ job: holdJob, payload: { key, holdMs: i % 2 ? 30_000 : 300 } })),
    );
    await until(
      async () => (await redis().smismember(`${p()}fx:started`, ...keys)).every(Boolean),
      'all 100 jobs to be running',
    );
    worker.proc.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    const k = (key: string) => system.keys.beeKey('default', key);
    const jobs = await system.index.many(ids);
    const completed = jobs.filter((j) => j.status === 'completed').map((j) => j.id);
    const waiting = await redis().lrange(k('waiting'), 0, -1);
    expect(await redis().llen(k('active'))).toBe(0);
    expect(completed).toHaveLength(50);
    expect(waiting).toHaveLength(50);
    expect(new Set([...completed, ...waiting]).size).toBe(100);
    expect(jobs.filter((j) => j.status === 'queued').map((j) => j.attempts)).toEqual(new Array(50).fill(0));

    const next = startWorker(20, 1_500);
    await next.ready;
    await until(
      async () => (await system.index.many(ids)).every((j) => j.status === 'completed'),
      'the rest to complete',
    );
    const completions = await Promise.all(keys.map((key) => num(`fx:completions:${key}`)));
    expect(completions).toEqual(new Array(100).fill(1));
    expect(await num('fx:effects')).toBe(101); // 100 here plus the kill -9 test's one
    next.proc.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  });
});
