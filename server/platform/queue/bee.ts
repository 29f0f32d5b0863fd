import BeeQueue from 'bee-queue';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import { QueueKeys } from './keys.ts';
import { scripts } from './scripts.ts';

/**
 * bee-queue 2.0 talks to Redis through its own node_redis v3 client and does not recognise ioredis instances, so it
 * gets connection options parsed from REDIS_URL.
 */
export function beeRedisOptions(url: string): Record<string, unknown> {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export type BeeJob = BeeQueue.Job<unknown> & {
  options: {
    timestamp: number;
    stacktraces: string[];
    retries?: number;
    backoff?: { strategy: string; delay?: number };
    /** Set by the runner just before it throws: ms until the next attempt, or -1 to fail the job. */
    keelDelay?: number;
  };
};

/** The parts of bee-queue's Queue that Keel's consumer uses (stable in the pinned 2.0.0; see ADR 0020). */
interface BeeInternals {
  handler: ((job: BeeJob) => Promise<unknown>) | undefined;
  bclient: {
    brpoplpush(
      src: string,
      dst: string,
      timeout: number,
      cb: (err: Error | null, id: string | null) => void,
    ): void;
  } | null;
  _runJob(job: BeeJob): Promise<[string, unknown]>;
  _preventStall(jobId: string): Promise<unknown>;
  _activateDelayed(): void;
  toKey(key: string): string;
}

export type KeelBee = BeeQueue<unknown> & BeeInternals;

/** The backoff strategy every Keel job names: the runner decides the delay (or failure) itself. */
const KEEL_STRATEGY = 'keel';

export function createBee(
  name: string,
  opts: {
    redisUrl: string;
    prefix: string;
    worker: boolean;
    stallIntervalMs: number;
    delayedDebounceMs: number;
  },
): KeelBee {
  const bee = new BeeQueue(name, {
    prefix: new QueueKeys(opts.prefix).bee,
    redis: beeRedisOptions(opts.redisUrl) as never,
    isWorker: opts.worker,
    // Events over pub/sub are at-most-once: Keel's index and metrics are written by the worker instead.
    getEvents: false,
    sendEvents: false,
    // The job map grows without bound in long-lived producers (a known bee-queue pain).
    storeJobs: false,
    activateDelayedJobs: opts.worker,
    // Keel's index keeps finished jobs with retention; bee's own succeeded/failed sets would only grow.
    removeOnSuccess: true,
    removeOnFailure: true,
    stallInterval: opts.stallIntervalMs,
    delayedDebounce: opts.delayedDebounceMs,
  }) as KeelBee;
  bee.backoffStrategies.set(KEEL_STRATEGY, (job) => (job as BeeJob).options.keelDelay ?? -1);
  // Connection errors are retried by node_redis; without a listener an 'error' event would crash the process.
  bee.on('error', () => undefined);
  return bee;
}

/** Options every Keel job is saved with, so bee asks Keel's strategy for each retry. */
export function keelJobOptions(job: BeeJob): void {
  job.options.retries = 1;
  job.options.backoff = { strategy: KEEL_STRATEGY };
}

/**
 * Takes jobs from one bee-queue queue and runs them through bee's own `_runJob` (stall renewals, atomic finish,
 * retries, delayed re-queue), replacing only bee's fetch loop: concurrency can change at runtime (the balancer),
 * a paused queue stops fetching, and a shutdown never leaves a popped job orphaned in `active`.
 *
 * Each concurrency slot loops "take a job, run it". Takes are a non-blocking script call on the auto-pipelined
 * connection, so the slots freed in one tick share one round trip; when the queue is empty one slot waits in a
 * blocking pop (one second at a time, so a stop never cuts a pop whose reply could be lost) and wakes the others.
 */
export class BeeConsumer {
  concurrency: number;
  running = 0;
  paused = false;
  private started = false;
  private stopping = false;
  private slots = 0;
  private blocked = false;
  private sleepers: (() => void)[] = [];
  private drained: (() => void) | null = null;
  private handler: ((job: BeeJob) => Promise<unknown>) | null = null;
  /**
   * Next jobs taken while the previous one's outcome is still being written, by that previous job (its object, not
   * its id: a stalled job requeued while still running can be run twice at once under one id).
   */
  private readonly prefetched = new Map<BeeJob, Promise<BeeJob | undefined>>();
  /** Ids of the jobs this consumer is running (a count: see `prefetched`); only these have their claim renewed. */
  private readonly live = new Map<string, number>();
  private readonly keys: { waiting: string; active: string; jobs: string };
  /** bee-queue does not export its Job class; its instances lead to it (for `Job.fromData`). */
  private readonly Job: { fromData(queue: KeelBee, id: string, data: string): BeeJob };

  constructor(
    readonly bee: KeelBee,
    private readonly redis: Redis,
    concurrency: number,
    private readonly logger: Logger,
  ) {
    this.concurrency = concurrency;
    this.keys = { waiting: bee.toKey('waiting'), active: bee.toKey('active'), jobs: bee.toKey('jobs') };
    this.Job = bee.createJob({}).constructor as unknown as BeeConsumer['Job'];
    // bee's `_runJob` calls `this.handler` synchronously, after it has started renewing the job's claim: were the
    // handler ever missing, the TypeError would leave the job in `active` with its claim renewed forever, out of the
    // stall checker's reach. So the handler is bee's from construction on and never changes; before start() it
    // hands jobs straight back.
    bee.handler = (job) => this.handle(job);
    // Only a job that is running here keeps its claim: whatever leaves a job in `active` without running it (a
    // finish that failed, an attempt abandoned by a bug) stops renewing, and the leader's stall checker requeues it.
    const renew = bee._preventStall.bind(bee);
    bee._preventStall = (jobId) => (this.live.has(jobId) ? renew(jobId) : Promise.resolve());
  }

  get name(): string {
    return this.bee.name;
  }

  async start(handler: (job: BeeJob) => Promise<unknown>): Promise<void> {
    if (this.started || this.handler) throw new Error(`Consumer of ${this.name} started twice`);
    this.handler = handler;
    // Slots need bee's blocking client, which exists once bee is ready.
    await this.bee.ready();
    this.bee._activateDelayed();
    this.started = true;
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

  private async slot(): Promise<void> {
    let failures = 0;
    let next: Promise<BeeJob | undefined> | undefined;
    try {
      while (this.open) {
        let job: BeeJob | undefined;
        try {
          job = await (next ?? this.take());
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
          if (this.stopping) break;
          failures += 1;
          this.logger.warn({ err, queue: this.name }, 'queue fetch failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
          continue;
        }
        if (job) next = (await this.run(job)).next;
      }
      const left = await next?.catch(() => undefined);
      if (left) await this.giveBack([left.id]);
    } finally {
      this.slots -= 1;
      // An exiting slot may have been the one blocked: another sleeper takes over.
      this.wakeAll();
      if (this.slots === 0) this.drained?.();
    }
  }

  /** Runs one job; resolves to the next job's take if one was started meanwhile. */
  private async run(job: BeeJob): Promise<{ next: Promise<BeeJob | undefined> | undefined }> {
    this.running += 1;
    this.live.set(job.id, (this.live.get(job.id) ?? 0) + 1);
    try {
      await this.bee._runJob(job);
    } catch (err) {
      // The job may still be in `active`; it is no longer renewed (see the constructor), so the stall checker
      // returns it to the queue.
      this.logger.error({ err, queue: this.name, jobId: job.id }, 'job finish failed');
    } finally {
      this.running -= 1;
      const n = (this.live.get(job.id) ?? 1) - 1;
      if (n > 0) this.live.set(job.id, n);
      else this.live.delete(job.id);
    }
    const next = this.prefetched.get(job);
    this.prefetched.delete(job);
    return { next };
  }

  /** bee's handler for this queue. */
  private async handle(job: BeeJob): Promise<unknown> {
    const handler = this.handler;
    if (!handler) {
      // Back on the queue at once (bee's retry with delay 0); the runner never saw it, so no attempt counts.
      job.options.keelDelay = 0;
      throw new Error(`Consumer of ${this.name} got job ${job.id} before it was started`);
    }
    try {
      return await handler(job);
    } finally {
      // Once a handler returns, its slot takes the next job while bee writes the outcome: one round trip overlapped
      // per job. Never earlier: a job taken while another runs would sit unrenewed and could be seen as stalled.
      if (this.open) this.prefetched.set(job, this.take());
    }
  }

  private takers: { resolve: (job: BeeJob | undefined) => void; reject: (err: unknown) => void }[] = [];

  /** One job for one slot; the slots asking in the same tick share one script call. */
  private take(): Promise<BeeJob | undefined> {
    return new Promise((resolve, reject) => {
      if (this.takers.push({ resolve, reject }) > 1) return;
      process.nextTick(() => {
        const takers = this.takers;
        this.takers = [];
        this.fetch(takers.length).then(
          (jobs) => takers.forEach((t, i) => t.resolve(jobs[i])),
          (err: unknown) => takers.forEach((t) => t.reject(err)),
        );
      });
    });
  }

  /** Up to n waiting jobs moved to active and read in one script call. */
  private async fetch(n: number): Promise<BeeJob[]> {
    const flat = (await scripts.fetch(
      this.redis,
      [this.keys.waiting, this.keys.active, this.keys.jobs],
      [n],
    )) as string[] | null;
    const jobs: BeeJob[] = [];
    for (let i = 0; flat && i < flat.length; i += 2) {
      jobs.push(this.Job.fromData(this.bee, flat[i]!, flat[i + 1]!));
    }
    return jobs;
  }

  private async load(ids: string[]): Promise<BeeJob[]> {
    const data = await this.redis.hmget(this.keys.jobs, ...ids);
    const jobs: BeeJob[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const d = data[i];
      if (d) jobs.push(this.Job.fromData(this.bee, id, d));
      else gone.push(id);
    });
    // Removed between the pop and the read: drop the dangling id from active.
    for (const id of gone) await this.redis.lrem(this.keys.active, 0, id);
    return jobs;
  }

  /** Waits up to a second for a job, so a stop never has to cut a blocking pop (whose reply could be lost). */
  private blockingPop(): Promise<string | null> {
    const client = this.bee.bclient;
    if (!client) return Promise.reject(new Error('bee-queue worker client missing'));
    return new Promise((resolve, reject) =>
      client.brpoplpush(this.keys.waiting, this.keys.active, 1, (err, id) =>
        err ? reject(err) : resolve(id),
      ),
    );
  }

  private async giveBack(ids: string[]): Promise<void> {
    const multi = this.redis.multi();
    for (const id of ids) multi.lrem(this.keys.active, 0, id).rpush(this.keys.waiting, id);
    await multi.exec();
  }

  /**
   * Stops taking jobs, waits for running ones (the caller aborts them when its grace time is up; the runner then
   * puts them back on the queue), and closes bee's connections.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const drained = new Promise<void>((resolve) => (this.drained = resolve));
    this.wakeAll();
    if (this.slots > 0) await drained;
    await this.bee.close(1_000).catch(() => undefined);
  }
}
