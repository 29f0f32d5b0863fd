import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { queueSettingsFor } from '../../platform/queue/settings.ts';
import { QueueSystem } from '../../platform/queue/system.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { failureCode } from '../../test/errors.ts';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { createOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { debounceKey, dispatchDebounced } from './debounce.ts';
import { debouncedFixture, debouncedRegistry } from './fixtures/debounced.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const script = path.join(here, 'fixtures/debounce-dispatcher.ts');

let env: TestEnv;
let system: QueueSystem;
let worker: Worker;
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  system = new QueueSystem({
    config: env.config,
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry: debouncedRegistry(),
    settings: queueSettingsFor('test'),
  });
  worker = new Worker(system, { queues: ['default'], concurrency: 4 });
  await worker.start();
}, 60_000);
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await worker?.stop(2_000);
  await system?.close();
  await env?.close();
});

const redis = () => env.deps.redis.get('queue');
const fx = (org: string | null, key: string) => `${env.config.keyPrefix}fx:debounced:${org ?? '-'}:${key}`;
const runsOf = async (org: string | null, key: string) =>
  Number((await redis().get(`${fx(org, key)}:runs`)) ?? 0);
const lastRun = async (org: string | null, key: string) => {
  const v = await redis().get(`${fx(org, key)}:last`);
  return v ? (JSON.parse(v) as { key: string; n: number; from: string; at: number }) : null;
};

async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Nothing of the default queue left waiting, delayed or running: every dispatched job has had its outcome. */
/** Nothing of the default queue left: waiting (the plain list and every organization's), delayed or running. */
async function queueDrained(): Promise<boolean> {
  const counts = (await system.admin.counts()).find((c) => c.queue === 'default')!;
  return counts.waiting + counts.delayed + counts.active === 0;
}

/** A dispatching process on the test's Redis prefix; resolves once it waits for "go". */
function startDispatcher(from: string, count: number, keys: string[]) {
  const overrides = {
    NODE_ENV: 'test',
    DATABASE_URL: inject('databaseUrl'),
    REDIS_URL: TEST_REDIS_URL,
    KEY_PREFIX: env.config.keyPrefix,
    LOG_LEVEL: 'error',
    DB_POOL_MAX: '1',
  };
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', script, JSON.stringify(overrides), from, String(count), keys.join(',')],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(proc);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve, reject) =>
    proc.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`dispatcher exited ${code}: ${err}`)),
    ),
  );
  const seen = (word: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = out.split('\n').find((l) => l.startsWith(word));
        if (line) resolve(line);
      };
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      proc.once('exit', () => reject(new Error(`dispatcher exited before "${word}": ${err}`)));
    });
  const ready = seen('ready');
  const done = seen('done').then((l) => Number(l.split(' ')[1]));
  return { go: () => proc.stdin!.write('go\n'), ready, done, exited };
}

describe('debounced jobs', () => {
  it('20 dispatches from two processes within the window make one run, after the last, per key', async () => {
    const keys = ['alpha', 'beta'];
    const a = startDispatcher('a', 10, keys);
    const b = startDispatcher('b', 10, keys);
    await Promise.all([a.ready, b.ready]);
    a.go();
    b.go();
    const lastDispatchAt = Math.max(await a.done, await b.done);
    await Promise.all([a.exited, b.exited]);

    await until(
      async () => (await runsOf(null, 'alpha')) && (await runsOf(null, 'beta')),
      'both keys to run',
    );
    await until(queueDrained, 'every superseded job to complete');
    for (const key of keys) {
      expect(await runsOf(null, key), key).toBe(1);
      const last = await lastRun(null, key);
      // The run has the last dispatch's payload (each process's last is n = 9) and started after it.
      expect(last?.n, key).toBe(9);
      expect(last!.at, key).toBeGreaterThan(lastDispatchAt);
    }
  });

  it('the same key in two organizations is two debounces; a later burst after a run makes a second run', async () => {
    const [o1, o2] = [await createOrg(env.deps), await createOrg(env.deps)];
    const s = { queue: system, redis: redis(), config: env.config };
    const burst = async (org: string, from: string) => {
      for (let n = 0; n < 5; n++) {
        await dispatchDebounced(
          s,
          debouncedFixture,
          { key: 'shared', n, from },
          { organizationId: org, windowMs: 300 },
        );
      }
    };
    await Promise.all([burst(o1.id, 'o1'), burst(o2.id, 'o2')]);
    await until(async () => (await runsOf(o1.id, 'shared')) && (await runsOf(o2.id, 'shared')), 'both runs');
    await until(queueDrained, 'the bursts to drain');
    expect(await runsOf(o1.id, 'shared')).toBe(1);
    expect(await runsOf(o2.id, 'shared')).toBe(1);
    expect((await lastRun(o2.id, 'shared'))?.from).toBe('o2');

    await burst(o1.id, 'o1-again');
    await until(async () => (await runsOf(o1.id, 'shared')) === 2 || null, 'the second burst to run');
    await until(queueDrained, 'the second burst to drain');
    expect(await runsOf(o1.id, 'shared')).toBe(2);
    expect(await runsOf(o2.id, 'shared')).toBe(1);
  });

  it('a run whose first attempt fails is retried and runs, once', async () => {
    const s = { queue: system, redis: redis(), config: env.config };
    await dispatchDebounced(
      s,
      debouncedFixture,
      { key: 'flaky', n: 1, from: 'retry', failFirst: true },
      { organizationId: null, windowMs: 300 },
    );
    await until(() => runsOf(null, 'flaky'), 'the retried attempt to run');
    await until(queueDrained, 'the queue to drain');
    expect(await runsOf(null, 'flaky')).toBe(1);
    expect(Number(await redis().get(`${fx(null, 'flaky')}:attempts`))).toBe(2);
    // The run's key is gone once it succeeded: the next dispatch starts a new window.
    expect(
      await redis().exists(debounceKey(env.config.keyPrefix, debouncedFixture.name, null, 'flaky')),
    ).toBe(0);
  });

  it('a payload its schema refuses is a typed error and does not supersede the pending run', async () => {
    const s = { queue: system, redis: redis(), config: env.config };
    await dispatchDebounced(
      s,
      debouncedFixture,
      { key: 'guarded', n: 1, from: 'ok' },
      { organizationId: null, windowMs: 300 },
    );
    // What a caller without types (JSON from elsewhere) can send.
    const bad: { key: string; n: number; from: string } = JSON.parse(
      '{"key":"guarded","n":"two","from":"bad"}',
    );
    expect(await failureCode(dispatchDebounced(s, debouncedFixture, bad, { organizationId: null }))).toBe(
      'VALIDATION_FAILED',
    );
    await until(() => runsOf(null, 'guarded'), 'the good dispatch to run');
    await until(queueDrained, 'the queue to drain');
    expect(await runsOf(null, 'guarded')).toBe(1);
    expect((await lastRun(null, 'guarded'))?.from).toBe('ok');
  });
});
