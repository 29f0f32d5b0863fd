import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '../../../shared/errors.ts';
import type { CallbackEvent, QueueName } from './definition.ts';
import type { DispatchOptions, Dispatcher, JobSpec } from './dispatcher.ts';
import { newEnvelope, traceparentFor, type ChainState, type ChainStep, type Envelope } from './envelope.ts';
import type { FailedJobSink, FailureListener } from './failure.ts';
import type { QueueKeys } from './keys.ts';
import { CALLBACK_JOB } from './registry.ts';
import { scripts } from './scripts.ts';
import type { QueueSettings } from './settings.ts';

export interface BatchOptions {
  name?: string;
  then?: string;
  catch?: string;
  finally?: string;
  allowFailures?: boolean;
  organizationId?: string | null;
  traceparent?: string;
}

export interface FlowsDeps {
  redis: Redis;
  keys: QueueKeys;
  settings: QueueSettings;
  dispatcher: Dispatcher;
  failedSink: () => FailedJobSink | undefined;
}

/**
 * Jobs that lead to other jobs: chains (each step after the previous one succeeded, a catch callback on the first
 * failure), batches (then / catch / finally callbacks, cancel, retry of the failed) and the callbacks themselves,
 * which run as jobs under deterministic ids so each is queued at most once.
 */
export class Flows {
  constructor(private readonly deps: FlowsDeps) {}

  /** Each step runs only after the previous one succeeded; `catch` (a registered callback) runs once on the first failure. */
  async chain(
    steps: JobSpec[],
    opts: DispatchOptions & { catch?: string } = {},
  ): Promise<{ chainId: string; firstJobId: string }> {
    const { dispatcher } = this.deps;
    if (!steps.length) throw new AppError('VALIDATION_FAILED', 'A chain needs at least one job');
    if (opts.catch) dispatcher.requireCallback(opts.catch);
    // Every step is validated now, so a bad payload in step 5 is refused at dispatch, not discovered hours later.
    const checked: ChainStep[] = steps.map((s) => {
      const p = dispatcher.prepare(s.job, s.payload, { ...opts, ...s.options }, false);
      return {
        name: p.env.name,
        payload: p.env.payload,
        ...(s.options?.queue ? { queue: s.options.queue } : {}),
        ...(s.options?.delayMs ? { delayMs: s.options.delayMs } : {}),
      };
    });
    const chainId = randomUUID();
    const [first, ...rest] = checked;
    const state: ChainState = { id: chainId, index: 0, rest, ...(opts.catch ? { catch: opts.catch } : {}) };
    const firstJobId = await this.dispatchChainStep(first!, state, {
      organizationId: dispatcher.orgFrom(opts),
      traceparent: opts.traceparent ?? dispatcher.activeTraceparent(),
    });
    return { chainId, firstJobId };
  }

  /** A batch: every job validated first, then queued together; callbacks are registered names. */
  async batch(
    specs: JobSpec[],
    opts: BatchOptions = {},
  ): Promise<{ id: string; total: number; jobIds: string[] }> {
    const { dispatcher, redis, keys, settings } = this.deps;
    if (!specs.length) throw new AppError('VALIDATION_FAILED', 'A batch needs at least one job');
    for (const cb of [opts.then, opts.catch, opts.finally]) if (cb) dispatcher.requireCallback(cb);
    const id = randomUUID();
    const organizationId = dispatcher.orgFrom(opts);
    const traceparent = opts.traceparent ?? dispatcher.activeTraceparent();
    const prepared = specs.map((s) =>
      dispatcher.prepare(s.job, s.payload, { organizationId, traceparent, ...s.options }, false),
    );
    for (const p of prepared) p.env.batch = id;
    const key = keys.batch(id);
    const now = Date.now();
    await redis
      .multi()
      .hset(key, {
        id,
        name: opts.name ?? '',
        org: organizationId ?? '',
        total: prepared.length,
        pending: prepared.length,
        failed: 0,
        allowFailures: opts.allowFailures ? '1' : '0',
        then: opts.then ?? '',
        catch: opts.catch ?? '',
        finally: opts.finally ?? '',
        createdAt: now,
      })
      .pexpire(key, settings.retention.batchesMs)
      .zadd(keys.batches(), now, id)
      .exec();
    await dispatcher.save(prepared);
    return { id, total: prepared.length, jobIds: prepared.map((p) => p.id) };
  }

  /** After a successful attempt of a chain step or batch member: the next step, the batch's counters and callbacks. */
  async succeeded(id: string, env: Envelope): Promise<void> {
    const { redis, keys } = this.deps;
    if (env.chain && env.chain.rest.length) {
      const [next, ...rest] = env.chain.rest;
      await this.dispatchChainStep(
        next!,
        { ...env.chain, index: env.chain.index + 1, rest },
        { organizationId: env.org ?? null, traceparent: env.trace },
      );
    }
    if (env.batch) {
      const r = (await scripts.batchSuccess(
        redis,
        [keys.batch(env.batch), keys.batchDone(env.batch), keys.batchFailed(env.batch)],
        [id, Date.now()],
      )) as number[];
      if (r[1]) await this.batchCallback(env.batch, 'then');
      if (r[2]) await this.batchCallback(env.batch, 'finally');
    }
  }

  /** A batch member that failed for good: counted, kept for a retry, and the batch's catch / finally callbacks. */
  readonly batchListener: FailureListener = {
    name: 'batch',
    failed: async ({ id, queue, env, message, failedAt }) => {
      if (!env.batch) return;
      const { redis, keys } = this.deps;
      const r = (await scripts.batchFailure(
        redis,
        [keys.batch(env.batch), keys.batchFailed(env.batch)],
        [id, failedAt, JSON.stringify({ queue, env })],
      )) as number[];
      if (r[1]) await this.batchCallback(env.batch, 'catch', { id, name: env.name, error: message });
      if (r[2]) await this.batchCallback(env.batch, 'finally');
    },
  };

  /** A chain step that failed for good: the chain's catch callback; the steps after it never run. */
  readonly chainListener: FailureListener = {
    name: 'chain',
    failed: async ({ id, env, message }) => {
      if (!env.chain?.catch) return;
      await this.dispatchCallback(`chain:${env.chain.id}:catch`, env.chain.catch, env.org ?? null, {
        kind: 'chain-catch',
        chainId: env.chain.id,
        failedJob: { id, name: env.name, error: message },
      });
    },
  };

  async isBatchCancelled(id: string): Promise<boolean> {
    return (await this.deps.redis.hexists(this.deps.keys.batch(id), 'cancelledAt')) === 1;
  }

  async cancelBatch(id: string): Promise<void> {
    const { redis, keys } = this.deps;
    if (!(await redis.exists(keys.batch(id)))) throw new AppError('NOT_FOUND', `No batch ${id}`);
    await redis.hsetnx(keys.batch(id), 'cancelledAt', Date.now());
  }

  /** Runs the batch's failed jobs again (same ids); they count as pending until they finish. */
  async retryBatchFailures(id: string): Promise<string[]> {
    const { redis, keys, dispatcher } = this.deps;
    if (!(await redis.exists(keys.batch(id)))) throw new AppError('NOT_FOUND', `No batch ${id}`);
    const flat = (await scripts.batchTakeFailed(
      redis,
      [keys.batch(id), keys.batchFailed(id)],
      [],
    )) as string[];
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const jobId = flat[i]!;
      const { queue, env } = JSON.parse(flat[i + 1]!) as { queue: QueueName; env: Envelope };
      await dispatcher.redispatch(jobId, queue, env);
      ids.push(jobId);
    }
    if (ids.length) await this.deps.failedSink()?.forget(ids);
    return ids;
  }

  private async dispatchChainStep(
    step: ChainStep,
    chain: ChainState,
    ctx: { organizationId: string | null; traceparent: string },
  ): Promise<string> {
    const { dispatcher } = this.deps;
    const def = dispatcher.definition(step.name);
    const delayUntil = step.delayMs ? Date.now() + step.delayMs : null;
    const env = newEnvelope({
      name: def.name,
      payload: step.payload,
      org: ctx.organizationId,
      trace: ctx.traceparent,
      delayUntil,
      chain,
    });
    // A deterministic id per step: if a worker dies after queueing the next step but before finishing this one,
    // the rerun's second dispatch of that step is refused by the queue as a duplicate id.
    const id = `chain:${chain.id}:${chain.index}`;
    await dispatcher.save([{ id, queue: step.queue ?? def.queue, env, delayUntil, def }]);
    return id;
  }

  private async batchCallback(
    batchId: string,
    kind: 'then' | 'catch' | 'finally',
    failedJob?: CallbackEvent['failedJob'],
  ): Promise<void> {
    const [name, org] = await this.deps.redis.hmget(this.deps.keys.batch(batchId), kind, 'org');
    if (!name) return;
    await this.dispatchCallback(`batch:${batchId}:${kind}`, name, org || null, {
      kind,
      batchId,
      ...(failedJob ? { failedJob } : {}),
    });
  }

  /** Callbacks run as jobs (with retries) under a deterministic id, so each one is queued at most once. */
  private async dispatchCallback(id: string, callback: string, org: string | null, event: CallbackEvent) {
    const { dispatcher } = this.deps;
    const def = dispatcher.definition(CALLBACK_JOB);
    const env = newEnvelope({
      name: CALLBACK_JOB,
      payload: { callback, event },
      org,
      trace: traceparentFor(undefined),
      delayUntil: null,
    });
    await dispatcher.save([{ id, queue: def.queue, env, delayUntil: null, def }]);
  }
}
