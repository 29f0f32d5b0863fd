import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { fixtureRegistry } from './fixtures/jobs.ts';
import { overlapHolder } from './limits.ts';
import { exclusiveJob, limitedJob, limitsLog, RATE } from './fixtures/limit-jobs.ts';
import { startWorker, type WorkerChild } from './fixtures/processes.ts';
import { queueSettingsFor } from './settings.ts';
import { QueueSystem } from './system.ts';

// Issue 21 item 5: `rateLimit` and `withoutOverlapping` hold across every worker process. Three real worker
// processes share one queue; the jobs log their runs on Redis's clock (fixtures/limit-jobs.ts).

const settings = queueSettingsFor('test');
/** How long an overlap lock outlives its holder's last renewal (limits.ts): two stall intervals. */
const LEASE_MS = 2 * settings.stall.intervalMs;
const WINDOW_MS = RATE.perSeconds * 1_000;

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
    settings,
  });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await system.close();
  await env.close();
});

const redis = () => env.deps.redis.get('queue');

interface Run {
  pid: number;
  id: string;
  key: string;
  n: number;
  start: number;
  end: number | undefined;
}

async function logLines(): Promise<string[][]> {
  return (await redis().lrange(limitsLog(env.config.keyPrefix), 0, -1)).map((l) => l.split('|'));
}

/** The exclusive job's runs of one overlap key, in start order (an end goes with its process's run of its job). */
async function runsOf(key: string): Promise<Run[]> {
  const runs: Run[] = [];
  for (const [kind, pid, id, k, n, at] of await logLines()) {
    if (k !== key || (kind !== 'start' && kind !== 'end')) continue;
    if (kind === 'start') {
      runs.push({ pid: Number(pid), id: id!, key, n: Number(n), start: Number(at), end: undefined });
    } else {
      const open = runs.find((r) => r.id === id && r.pid === Number(pid) && r.end === undefined);
      if (!open) throw new Error(`an end of ${id} without a start`);
      open.end = Number(at);
    }
  }
  return runs.sort((a, b) => a.start - b.start);
}

/** No run of the key starts before the one before it ended. */
function expectNoOverlap(runs: Run[]): void {
  for (let i = 1; i < runs.length; i++) {
    const before = runs[i - 1]!;
    expect(before.end, `run ${i - 1} of ${before.key} ended`).toBeDefined();
    expect(runs[i]!.start).toBeGreaterThanOrEqual(before.end!);
  }
}

async function redisNowMs(): Promise<number> {
  const [s, us] = await redis().time();
  return Number(s) * 1_000 + Math.floor(Number(us) / 1_000);
}

async function threeWorkers(): Promise<WorkerChild[]> {
  const workers = [0, 1, 2].map(() => startWorker(env, children, 2, 2_000));
  await Promise.all(workers.map((w) => w.ready));
  return workers;
}

async function stopAll(workers: WorkerChild[]): Promise<void> {
  const live = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
  for (const w of live) w.proc.kill('SIGTERM');
  expect(await Promise.all(live.map((w) => w.exited))).toEqual(live.map(() => 0));
}

/** The index has a record of a job once an attempt of it ended: one per id, each completed. */
const allCompleted = (ids: string[]) => async () => {
  const jobs = await system.index.many(ids);
  return jobs.length === ids.length && jobs.every((j) => j.status === 'completed');
};

describe('limits across three worker processes', () => {
  it(`a rate limit of ${RATE.limit}/${RATE.perSeconds}s and a without-overlapping key hold across all of them`, async () => {
    const workers = await threeWorkers();
    const rated = Array.from({ length: 30 }, (_, i) => ({ job: limitedJob, payload: { i } }));
    // Short runs of one key, and runs of another longer than an overlap lock's lease: their locks must be renewed.
    const short = Array.from({ length: 6 }, (_, n) => ({
      job: exclusiveJob,
      payload: { key: 'short', n, holdMs: 150 },
    }));
    const long = [0, 1].map((n) => ({
      job: exclusiveJob,
      payload: { key: 'long', n, holdMs: LEASE_MS + 500 },
    }));
    const ids = await system.dispatchMany([...rated, ...short, ...long]);
    await until(allCompleted(ids), 'every job to complete', 60_000);
    await stopAll(workers);

    // The rate limit is rate-limiter-flexible's fixed window: a key created by the first consume after the last one
    // expired, living perSeconds on Redis's clock, of which at most `limit` consumes pass. Each start logged the
    // window it ran in (its key's expiry), so the count per window is exact, whichever process's clock says what.
    const starts = (await logLines()).filter(([kind]) => kind === 'rated');
    expect(starts).toHaveLength(30);
    expect(new Set(starts.map(([, , , i]) => i)).size).toBe(30);
    const perWindow = new Map<number, number>();
    for (const [, , , , at, windowEnd] of starts) {
      const end = Number(windowEnd);
      expect(end, 'a start outside any window of the limiter').toBeGreaterThan(0);
      expect(Number(at)).toBeGreaterThanOrEqual(end - WINDOW_MS);
      expect(Number(at)).toBeLessThanOrEqual(end);
      perWindow.set(end, (perWindow.get(end) ?? 0) + 1);
    }
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(RATE.limit);
    const ends = [...perWindow.keys()].sort((a, b) => a - b);
    expect(ends.length).toBeGreaterThanOrEqual(30 / RATE.limit);
    // Windows follow one another and never overlap: one key at a time.
    for (let i = 1; i < ends.length; i++) expect(ends[i]! - ends[i - 1]!).toBeGreaterThanOrEqual(WINDOW_MS);
    // Every process took part: the limit held across all three, not within one.
    const pids = workers.map((w) => w.proc.pid);
    for (const pid of pids) expect(starts.filter(([, p]) => Number(p) === pid).length).toBeGreaterThan(0);

    for (const key of ['short', 'long']) {
      const runs = await runsOf(key);
      // Each ran exactly once and finished.
      expect(runs.map((r) => r.n).sort()).toEqual(key === 'short' ? [0, 1, 2, 3, 4, 5] : [0, 1]);
      expectNoOverlap(runs);
    }
  }, 90_000);

  it('a kill -9 mid-job frees its overlap key within a lease and loses no job', async () => {
    const workers = await threeWorkers();
    const [victim] = await system.dispatchMany([
      { job: exclusiveJob, payload: { key: 'k9', n: 0, holdMs: 60_000 } },
    ]);
    const first = await until(async () => (await runsOf('k9'))[0], 'the first job of the key to start');
    const others = await system.dispatchMany(
      [1, 2, 3].map((n) => ({ job: exclusiveJob, payload: { key: 'k9', n, holdMs: 100 } })),
    );
    const holder = workers.find((w) => w.proc.pid === first.pid)!;
    holder.proc.kill('SIGKILL');
    await holder.exited;
    const killedAt = await redisNowMs();

    // The dead holder's lock stays (nobody can tell a dead worker from a slow one at once) but only for what is left
    // of its lease, not for the job's timeout (two minutes here): the key is free again about when the stall checker
    // takes the job back.
    const lock = system.keys.overlap(exclusiveJob.name, 'k9');
    expect(await redis().get(lock)).toBe(overlapHolder(victim!, 1));
    const left = await redis().pttl(lock);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(LEASE_MS);

    const ids = [victim!, ...others];
    await until(allCompleted(ids), 'every job of the key to complete', 60_000);
    await stopAll(workers);

    const runs = await runsOf('k9');
    // The killed run logged no end: it ended when its process died.
    const killed = runs.find((r) => r.end === undefined)!;
    expect(killed).toEqual(expect.objectContaining({ id: victim, pid: first.pid }));
    killed.end = killedAt;
    // The victim ran again to its end (nothing lost); every other job ran exactly once.
    expect(runs.map((r) => r.n).sort()).toEqual([0, 0, 1, 2, 3]);
    expect(runs.filter((r) => r.end === undefined)).toHaveLength(0);
    expectNoOverlap(runs);
  }, 90_000);
});
