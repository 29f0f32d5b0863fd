import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import { DelayedJobs } from './delayed.ts';
import type { IndexRecord } from './job-index.ts';
import type { StoreKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import { decodeJob, encodeJob, type StoredJob } from './store.ts';
import { TurnBatch } from './turn-batch.ts';

/**
 * What the handler decided about an attempt. `completed` may carry the job's index record, written in the same
 * script call that takes the job out of `active`.
 */
export type JobOutcome =
  { kind: 'completed'; index?: IndexRecord } | { kind: 'retry'; delayMs: number } | { kind: 'failed' };

export type ConsumerHandler = (job: StoredJob) => Promise<JobOutcome>;

interface PendingFinish {
  id: string;
  op: 'done' | 'again' | 'later';
  data: string;
  due: number;
  index: IndexRecord | undefined;
}

/**
 * Takes jobs from one queue (bee-queue's layout, store.ts) and runs them with bee's hand-offs: a job moves from
 * `waiting` to `active` as with bee's BRPOPLPUSH, its claim is renewed through the `stalling` set, and its end is
 * bee's `_finishJob` (out of `active`; retried onto `waiting` or the `delayed` set, whose timer `DelayedJobs` runs)
 * done by one script call for every job that finished in the same event-loop turn, together with their index
 * records. Concurrency can change at runtime (the balancer), a paused queue stops fetching, and a shutdown never
 * leaves a popped job orphaned in `active`.
 *
 * Each concurrency slot loops "take a job, run it". Takes are a non-blocking script call on the auto-pipelined
 * connection, so the slots freed in one tick share one round trip; when the queue is empty one slot waits in a
 * blocking pop (one second at a time, so a stop never cuts a pop whose reply could be lost) and wakes the others.
 */
export class QueueConsumer {
  concurrency: number;
  running = 0;
  paused = false;
  private started = false;
  private stopping = false;
  private slots = 0;
  private blocked = false;
  private sleepers: (() => void)[] = [];
  private drained: (() => void) | null = null;
  private handler: ConsumerHandler | null = null;
  /**
   * Ids this consumer has taken and not yet finished or given back, counted (a stalled job requeued while still
   * running can be held twice under one id). Only these have their claim renewed: a job left in `active` by
   * anything else (an attempt whose outcome was never decided, a finish that failed) is returned by the stall
   * checker.
   */
  private readonly held = new Map<string, number>();
  private renewTimer: NodeJS.Timeout | null = null;
  /** The ends of every job that finished in one event-loop turn, written by one script call. */
  private readonly finishes = new TurnBatch<PendingFinish>(async (batch) => {
    const args: (string | number)[] = [this.keys.earlierDelayed, batch.length];
    for (const f of batch) args.push(f.id, f.op, f.data, f.due);
    for (const f of batch) if (f.index) for (const a of f.index) args.push(a);
    const k = this.keys;
    await scripts.finish(this.redis, [k.active, k.stalling, k.jobs, k.waiting, k.delayed], args);
  });
  /** One job for each slot asking in the same tick, taken by one script call. */
  private readonly takes = new TurnBatch<undefined, StoredJob>(
    (slots) => this.fetch(slots.length),
    process.nextTick,
  );
  private readonly delayed: DelayedJobs;
  /** The blocking pop's own connection: a blocked connection serves nothing else. */
  private blocking: Redis | null = null;

  constructor(
    readonly name: string,
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    concurrency: number,
    private readonly logger: Logger,
    private readonly timing: { stallIntervalMs: number; delayedDebounceMs: number },
  ) {
    this.concurrency = concurrency;
    this.delayed = new DelayedJobs(redis, keys, timing.delayedDebounceMs, logger);
  }

  async start(handler: ConsumerHandler): Promise<void> {
    if (this.started || this.handler) throw new Error(`Consumer of ${this.name} started twice`);
    this.handler = handler;
    this.blocking = this.redis.duplicate({
      enableAutoPipelining: false,
      // The pop waits up to a second; its reply may take longer on a loaded server.
      commandTimeout: 10_000,
      connectionName: 'keel:queue-pop',
    });
    this.blocking.on('error', () => undefined);
    await this.delayed.start();
    this.started = true;
    // The stall checker marks every job in `active` once per interval and takes back those still marked at the
    // next check: clearing the marks of held jobs twice per interval keeps them.
    this.renewTimer = setInterval(
      () => void this.renew(),
      Math.max(50, Math.floor(this.timing.stallIntervalMs / 2)),
    );
    this.renewTimer.unref();
    this.spawn();
  }

  setConcurrency(n: number): void {
    this.concurrency = Math.max(0, n);
    this.spawn();
    this.wakeAll();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.spawn();
    this.wakeAll();
  }

  private spawn(): void {
    while (this.started && !this.stopping && !this.paused && this.slots < this.concurrency) {
      this.slots += 1;
      void this.slot();
    }
  }

  private wakeAll(): void {
    const s = this.sleepers;
    this.sleepers = [];
    for (const wake of s) wake();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => this.sleepers.push(resolve));
  }

  private get open(): boolean {
    return !this.stopping && !this.paused && this.slots <= this.concurrency;
  }

  private hold(id: string): void {
    this.held.set(id, (this.held.get(id) ?? 0) + 1);
  }

  private release(id: string): void {
    const n = (this.held.get(id) ?? 1) - 1;
    if (n > 0) this.held.set(id, n);
    else this.held.delete(id);
  }

  private async renew(): Promise<void> {
    if (!this.held.size) return;
    await this.redis.srem(this.keys.stalling, ...this.held.keys()).catch((err: unknown) => {
      this.logger.warn({ err, queue: this.name }, 'renewing job claims failed');
    });
  }

  private async slot(): Promise<void> {
    let failures = 0;
    let next: Promise<StoredJob | undefined> | undefined;
    let ending: Promise<void> | undefined;
    try {
      while (this.open) {
        let job: StoredJob | undefined;
        try {
          job = await (next ?? this.takes.add(undefined));
          next = undefined;
          if (!job) {
            if (this.blocked) {
              await this.sleep();
              continue;
            }
            this.blocked = true;
            try {
              const id = await this.blockingPop();
              if (id && !this.open) {
                await this.giveBack([id]);
                continue;
              }
              if (id) job = (await this.load([id]))[0];
            } finally {
              this.blocked = false;
              this.wakeAll();
            }
          }
          failures = 0;
        } catch (err) {
          next = undefined;
          if (this.stopping) break;
          failures += 1;
          this.logger.warn({ err, queue: this.name }, 'queue fetch failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
          continue;
        }
        if (job) ({ next, ending } = await this.run(job, ending));
      }
      const left = await next?.catch(() => undefined);
      if (left) await this.giveBack([left.id]);
    } finally {
      // A stop waits for every end to be written.
      await ending;
      this.slots -= 1;
      // An exiting slot may have been the one blocked: another sleeper takes over.
      this.wakeAll();
      if (this.slots === 0) this.drained?.();
    }
  }

  /**
   * Runs one job, then starts writing its end (after the slot's previous one: at most one in flight per slot, so
   * slots slow down with Redis). Resolves to that write and to the next job's take, started meanwhile.
   */
  private async run(
    job: StoredJob,
    previous: Promise<void> | undefined,
  ): Promise<{ next: Promise<StoredJob | undefined> | undefined; ending: Promise<void> | undefined }> {
    this.running += 1;
    let outcome: JobOutcome;
    try {
      outcome = await this.handler!(job);
    } catch (err) {
      // The handler never decided (a bug): the job stays in `active`, no longer renewed, and the stall checker
      // returns it to the queue.
      this.logger.error({ err, queue: this.name, jobId: job.id }, 'job attempt broke before its outcome');
      this.release(job.id);
      return { next: undefined, ending: previous };
    } finally {
      this.running -= 1;
    }
    // The next job is taken while this one's end is written: a round trip overlapped per job.
    let next: Promise<StoredJob | undefined> | undefined;
    if (this.open) {
      next = this.takes.add(undefined);
      next.catch(() => undefined);
    }
    await previous;
    const ending = this.finish(job, outcome)
      .catch((err: unknown) => {
        // The job may still be in `active`; it is no longer renewed, so the stall checker returns it to the queue.
        this.logger.error({ err, queue: this.name, jobId: job.id }, 'job finish failed');
      })
      .finally(() => this.release(job.id));
    return { next, ending };
  }

  private async finish(job: StoredJob, outcome: JobOutcome): Promise<void> {
    const entry: PendingFinish = { id: job.id, op: 'done', data: '', due: 0, index: undefined };
    if (outcome.kind === 'completed') entry.index = outcome.index;
    else if (outcome.kind === 'retry') {
      entry.op = outcome.delayMs > 0 ? 'later' : 'again';
      entry.due = Date.now() + outcome.delayMs;
      entry.data = encodeJob(job);
    }
    await this.finishes.add(entry);
  }

  /** Up to n waiting jobs moved to active and read in one script call. */
  private async fetch(n: number): Promise<StoredJob[]> {
    const k = this.keys;
    // The script unpacks the ids into one call: far below Lua's limit of 8,000 values.
    const flat = (await scripts.fetch(
      this.redis,
      [k.waiting, k.active, k.jobs, k.stalling],
      [Math.min(n, 1_000)],
    )) as string[] | null;
    const jobs: StoredJob[] = [];
    for (let i = 0; flat && i < flat.length; i += 2) {
      const job = decodeJob(flat[i]!, flat[i + 1]!);
      this.hold(job.id);
      jobs.push(job);
    }
    return jobs;
  }

  private async load(ids: string[]): Promise<StoredJob[]> {
    const data = await this.redis.hmget(this.keys.jobs, ...ids);
    const jobs: StoredJob[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const d = data[i];
      if (d) {
        this.hold(id);
        jobs.push(decodeJob(id, d));
      } else gone.push(id);
    });
    // Removed between the pop and the read: drop the dangling id from active.
    for (const id of gone) await this.redis.lrem(this.keys.active, 0, id);
    if (jobs.length) await this.redis.srem(this.keys.stalling, ...jobs.map((j) => j.id));
    return jobs;
  }

  /** Waits up to a second for a job, so a stop never has to cut a blocking pop (whose reply could be lost). */
  private async blockingPop(): Promise<string | null> {
    if (!this.blocking) throw new Error(`Consumer of ${this.name} not started`);
    return this.blocking.brpoplpush(this.keys.waiting, this.keys.active, 1);
  }

  private async giveBack(ids: string[]): Promise<void> {
    const multi = this.redis.multi();
    for (const id of ids) {
      multi.lrem(this.keys.active, 0, id).srem(this.keys.stalling, id).rpush(this.keys.waiting, id);
    }
    await multi.exec();
    for (const id of ids) this.release(id);
  }

  /**
   * Stops taking jobs, waits for running ones (the caller aborts them when its grace time is up; the runner then
   * puts them back on the queue), and closes its connections.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const drained = new Promise<void>((resolve) => (this.drained = resolve));
    this.wakeAll();
    if (this.slots > 0) await drained;
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.delayed.stop();
    await this.blocking?.quit().catch(() => undefined);
    this.blocking?.disconnect();
  }
}
