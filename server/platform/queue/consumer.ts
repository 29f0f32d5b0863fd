import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import { DelayedJobs } from './delayed.ts';
import type { IndexRecord } from './job-index.ts';
import type { StoreKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import { takePlan } from './fairness.ts';
import { DEFAULT_FAIRNESS } from './settings.ts';
import { decodeJob, encodeJob, type StoredJob } from './store.ts';
import { TurnBatch } from './turn-batch.ts';

/** An idle consumer looks again this often without an announcement (a job saved through bee-queue's own API). */
const POLL_MS = 1_000;

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
 * its waiting list to `active` as with bee's BRPOPLPUSH (organizations served in turn, each under its plan's cap:
 * ADR 0024), its claim is renewed through the `stalling` set, and its end is
 * bee's `_finishJob` (out of `active`; retried onto `waiting` or the `delayed` set, whose timer `DelayedJobs` runs)
 * done by one script call for every job that finished in the same event-loop turn, together with their index
 * records. Concurrency can change at runtime (the balancer), a paused queue stops fetching, and a shutdown never
 * leaves a popped job orphaned in `active`.
 *
 * Each concurrency slot loops "take a job, run it". Takes are a non-blocking script call on the auto-pipelined
 * connection, so the slots freed in one tick share one round trip. When the queue has nothing to take the slots
 * sleep until the queue's `ready` channel announces jobs where there were none (every script that makes a list
 * non-empty publishes it), or a second at most. A blocking pop could not wait on every organization's list.
 */
export class QueueConsumer {
  concurrency: number;
  running = 0;
  paused = false;
  private started = false;
  private stopping = false;
  private slots = 0;
  private sleepers: (() => void)[] = [];
  /** Bumped by each `ready` announcement: a take that began before it may have missed the jobs it announced. */
  private readySeq = 0;
  private pollTimer: NodeJS.Timeout | null = null;
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
    const k = this.keys;
    const args: (string | number)[] = [k.earlierDelayed, batch.length, k.orgWaiting];
    for (const f of batch) args.push(f.id, f.op, f.data, f.due);
    for (const f of batch) if (f.index) for (const a of f.index) args.push(a);
    await scripts.finish(
      this.redis,
      [k.active, k.stalling, k.jobs, k.waiting, k.delayed, k.orgs, k.orgOf, k.running, k.ready, k.capped],
      args,
    );
  });
  /** One job for each slot asking in the same tick, taken by one script call. */
  private readonly takes = new TurnBatch<undefined, StoredJob>(
    (slots) => this.fetch(slots.length),
    process.nextTick,
  );
  private readonly delayed: DelayedJobs;

  constructor(
    readonly name: string,
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    concurrency: number,
    private readonly logger: Logger,
    private readonly timing: { stallIntervalMs: number; delayedDebounceMs: number },
    /** The take script's plan arguments (fairness.ts `takePlan`): per tier, its cap in this queue and its weight. */
    private readonly plan: (string | number)[] = takePlan(DEFAULT_FAIRNESS),
  ) {
    this.concurrency = concurrency;
    this.delayed = new DelayedJobs(redis, keys, timing.delayedDebounceMs, logger, () => {
      this.readySeq += 1;
      this.wakeAll();
    });
  }

  async start(handler: ConsumerHandler): Promise<void> {
    if (this.started || this.handler) throw new Error(`Consumer of ${this.name} started twice`);
    this.handler = handler;
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
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    const s = this.sleepers;
    this.sleepers = [];
    for (const wake of s) wake();
  }

  /** Until the next `ready` announcement, a change of concurrency or pause, a stop, or POLL_MS. */
  private sleep(): Promise<void> {
    this.pollTimer ??= setTimeout(() => this.wakeAll(), POLL_MS);
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
    let nextSeq = 0;
    let ending: Promise<void> | undefined;
    try {
      while (this.open) {
        let job: StoredJob | undefined;
        try {
          const seq = next ? nextSeq : this.readySeq;
          job = await (next ?? this.takes.add(undefined));
          next = undefined;
          failures = 0;
          if (!job) {
            // An announcement since the take began may be for jobs it did not see: take again at once.
            if (seq === this.readySeq) await this.sleep();
            continue;
          }
        } catch (err) {
          next = undefined;
          if (this.stopping) break;
          failures += 1;
          this.logger.warn({ err, queue: this.name }, 'queue fetch failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
          continue;
        }
        nextSeq = this.readySeq;
        ({ next, ending } = await this.run(job, ending));
      }
      const left = await next?.catch(() => undefined);
      if (left) await this.giveBack([left.id]);
    } finally {
      // A stop waits for every end to be written.
      await ending;
      this.slots -= 1;
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
      [k.waiting, k.active, k.jobs, k.stalling, k.orgs, k.running, k.tiers, k.turn, k.orgOf, k.capped],
      [Math.min(n, 1_000), k.orgWaiting, ...this.plan],
    )) as string[] | null;
    const jobs: StoredJob[] = [];
    for (let i = 0; flat && i < flat.length; i += 2) {
      const job = decodeJob(flat[i]!, flat[i + 1]!);
      this.hold(job.id);
      jobs.push(job);
    }
    return jobs;
  }

  /** Jobs taken but not run go back to the front of their lists. */
  private async giveBack(ids: string[]): Promise<void> {
    const k = this.keys;
    await scripts.giveBack(
      this.redis,
      [k.active, k.stalling, k.waiting, k.orgs, k.orgOf, k.running, k.ready, k.capped],
      [k.orgWaiting, ...ids],
    );
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
  }
}
