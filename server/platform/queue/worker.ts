import os from 'node:os';
import type { QueueAdmin } from './admin.ts';
import { balance, type QueueLoad } from './balance.ts';
import { QueueConsumer } from './consumer.ts';
import { queueDepth } from './depth.ts';
import { QUEUE_NAMES, type QueueName } from './definition.ts';
import type { JobIndex } from './job-index.ts';
import type { QueueKeys } from './keys.ts';
import { LeaderElection } from './leader.ts';
import type { JobLimits } from './limits.ts';
import type { QueueMetrics } from './metrics.ts';
import { JobRunner, type QueueObserver, type RunnerDeps } from './runner.ts';
import { Scheduler, type ScheduledTask } from './scheduler.ts';
import { scripts } from './scripts.ts';
import type { QueueSettings, SupervisorConfig } from './settings.ts';
import { decodeJob } from './store.ts';
import { queuedJobs, takePlan } from './fairness.ts';
import { workerIdFor, type WorkerInfo, type WorkerRegistry } from './worker-registry.ts';

/** What a worker needs of the queue system (QueueSystem satisfies it): the runner's parts and the fleet's. */
export interface WorkerDeps extends RunnerDeps {
  readonly keys: QueueKeys;
  readonly settings: QueueSettings;
  readonly index: RunnerDeps['index'] & Pick<JobIndex, 'trim'>;
  readonly metrics: RunnerDeps['metrics'] & Pick<QueueMetrics, 'flush'>;
  readonly limits: RunnerDeps['limits'] & Pick<JobLimits, 'releaseLocksOf'>;
  readonly admin: Pick<QueueAdmin, 'pausedQueues'>;
  readonly workerRegistry: Pick<WorkerRegistry, 'beat' | 'remove' | 'trim'>;
}

export interface WorkerOptions {
  /** Only these queues (all the supervisors' queues when absent). */
  queues?: QueueName[];
  /** Fixed concurrency per queue, overriding the supervisors' balancing. */
  concurrency?: number;
  /** Take part in leader election (stall checks, scheduler, trims). Default true. */
  leader?: boolean;
  tasks?: ScheduledTask[];
  /** Called when the worker decides to exit: recycle limits reached or `keel queue:terminate`. */
  onExitRequest?: (reason: string) => void;
  /**
   * The metrics console (`deps.observability.console`): job counts and timings from this worker, and, while it
   * leads, the `queue.depth` and `queue.wait_max_s` gauges every `gaugeIntervalMs` (10 s).
   */
  observer?: QueueObserver;
  gaugeIntervalMs?: number;
  /**
   * Runs inside another process (`keel dev`: the API's): recycle limits and `queue:terminate` do not apply, since
   * the process's memory is not the worker's alone and no process manager would start it again.
   */
  embedded?: boolean;
}

interface SupervisorState {
  config: SupervisorConfig;
  consumers: Map<QueueName, QueueConsumer>;
  lastBalance: number;
}

/**
 * One worker process's job machinery: supervisors (a queue consumer per queue, concurrency balanced across
 * them), the runner, a heartbeat the console reads, control polling (pause, terminate), and, while it leads, the
 * stall checker, scheduler and trims. stop() is the graceful shutdown.
 */
export class Worker {
  readonly id = workerIdFor();
  readonly runner: JobRunner;
  readonly scheduler: Scheduler;
  private readonly leader: LeaderElection | null;
  private readonly supervisors: SupervisorState[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly runtimeAvg = new Map<QueueName, number>();
  private readonly startedAt = Date.now();
  private status: 'running' | 'stopping' = 'running';
  private stopped: Promise<void> | null = null;
  private exitRequested = false;

  constructor(
    private readonly system: WorkerDeps,
    private readonly opts: WorkerOptions = {},
  ) {
    this.runner = new JobRunner(system, this.id, opts.observer);
    this.leader =
      opts.leader === false
        ? null
        : new LeaderElection(
            system.redis,
            system.keys.leader('queue'),
            this.id,
            system.settings.leaderTtlMs,
            system.logger,
          );
    this.scheduler = new Scheduler(
      system.redis,
      system.keys,
      () => this.leader?.isLeader() ?? false,
      system.logger,
    );
    this.scheduler.add({ name: 'queue:trim', cron: '30 * * * * *', run: () => this.trim() });
    for (const task of opts.tasks ?? []) this.scheduler.add(task);
  }

  isLeader(): boolean {
    return this.leader?.isLeader() ?? false;
  }

  async start(): Promise<void> {
    const { system } = this;
    const s = system.settings;
    const wanted = new Set<QueueName>(this.opts.queues ?? QUEUE_NAMES);
    const paused = await system.admin.pausedQueues();
    for (const config of s.supervisors) {
      const queues = config.queues.filter((q) => wanted.has(q));
      if (!queues.length) continue;
      const state: SupervisorState = { config, consumers: new Map(), lastBalance: Date.now() };
      const initial = this.opts.concurrency
        ? Object.fromEntries(queues.map((q) => [q, this.opts.concurrency!]))
        : balance({ ...config, balance: 'simple' }, queues, {}, {});
      for (const queue of queues) {
        const consumer = new QueueConsumer(
          queue,
          system.redis,
          system.keys.store(queue),
          initial[queue] ?? 1,
          system.logger,
          { stallIntervalMs: s.stall.intervalMs, delayedDebounceMs: s.delayedDebounceMs },
          takePlan(s.fairness, queue),
        );
        consumer.setPaused(paused.has(queue));
        state.consumers.set(queue, consumer);
        await consumer.start(async (job) => {
          const t0 = Date.now();
          try {
            return await this.runner.execute(job, queue);
          } finally {
            const prev = this.runtimeAvg.get(queue);
            const ms = Date.now() - t0;
            this.runtimeAvg.set(queue, prev === undefined ? ms : prev * 0.9 + ms * 0.1);
          }
        });
      }
      this.supervisors.push(state);
    }
    if (!this.supervisors.length) throw new Error(`No supervisor works any of: ${[...wanted].join(', ')}`);
    const every = (ms: number, fn: () => Promise<void>) => {
      const t = setInterval(
        () => void fn().catch((err: unknown) => system.logger.warn({ err }, 'worker timer failed')),
        ms,
      );
      t.unref();
      this.timers.push(t);
    };
    every(s.metricsFlushMs, () => system.metrics.flush());
    every(s.heartbeatMs, () => this.heartbeat());
    if (!this.opts.concurrency) {
      const cooldown = Math.min(...this.supervisors.map((sv) => sv.config.balanceCooldownMs));
      every(cooldown, () => this.rebalance());
    }
    if (this.leader) {
      await this.leader.start();
      every(Math.max(100, Math.floor(s.stall.intervalMs / 2)), async () => {
        if (this.leader?.isLeader()) await this.checkStalls();
      });
      if (this.opts.observer) {
        every(this.opts.gaugeIntervalMs ?? 10_000, async () => {
          if (this.leader?.isLeader()) await this.reportDepth();
        });
      }
      this.scheduler.start();
    }
    await this.heartbeat();
    system.logger.info({ worker: this.id, queues: [...wanted] }, 'worker started');
  }

  consumers(): QueueConsumer[] {
    return this.supervisors.flatMap((s) => [...s.consumers.values()]);
  }

  /** Moves concurrency between a supervisor's queues according to their waiting jobs (and runtimes). */
  async rebalance(): Promise<void> {
    const now = Date.now();
    for (const sv of this.supervisors) {
      if (sv.config.balance !== 'auto' || now - sv.lastBalance < sv.config.balanceCooldownMs) continue;
      sv.lastBalance = now;
      const queues = [...sv.consumers.keys()];
      const waiting = await Promise.all(
        queues.map(async (q) => (await queuedJobs(this.system.redis, this.system.keys.store(q))).total),
      );
      const load: Record<string, QueueLoad> = {};
      queues.forEach((q, i) => {
        load[q] = { waiting: waiting[i] ?? 0, avgRuntimeMs: this.runtimeAvg.get(q) ?? 1 };
      });
      const current = Object.fromEntries(queues.map((q) => [q, sv.consumers.get(q)!.concurrency]));
      const next = balance(sv.config, queues, current, load);
      for (const q of queues) sv.consumers.get(q)!.setConcurrency(next[q] ?? 1);
    }
  }

  /** Sets the fleet-wide queue gauges (one process does it: the leader). */
  async reportDepth(): Promise<void> {
    const d = await queueDepth(this.system);
    this.opts.observer?.gauge('queue.depth', d.waiting);
    this.opts.observer?.gauge('queue.wait_max_s', d.waitMaxS);
  }

  /**
   * Leader only: requeue stalled jobs; the ones that stalled too often (counted by the script, atomically with the
   * requeue) fail through the failure listeners like any other.
   */
  async checkStalls(): Promise<{ requeued: string[]; failed: string[] }> {
    const { system } = this;
    const out = { requeued: [] as string[], failed: [] as string[] };
    for (const queue of QUEUE_NAMES) {
      const k = system.keys.store(queue);
      const [requeued, failed] = (await scripts.stalls(
        system.redis,
        [
          k.stallBlock,
          k.stalling,
          k.waiting,
          k.active,
          system.keys.stalls(queue),
          k.orgs,
          k.orgOf,
          k.running,
          k.ready,
          k.capped,
        ],
        [system.settings.stall.intervalMs, system.settings.stall.maxStalls, k.orgWaiting],
      )) as [string[], string[]];
      if (requeued.length)
        system.logger.warn({ queue, jobs: requeued }, 'stalled jobs returned to the queue');
      out.requeued.push(...requeued);
      const raws = failed.length ? await system.redis.hmget(k.jobs, ...failed) : [];
      const envelopes = new Map(
        failed.flatMap((id, i) => {
          const raw = raws[i];
          return raw ? [[id, decodeJob(id, raw).data] as const] : [];
        }),
      );
      for (const id of failed) {
        const env = envelopes.get(id);
        if (!env) continue;
        // Its worker is gone and no attempt follows: the locks it held go now, not at their TTL. (A requeued job
        // takes its own lock over when it runs again, and releases it when that attempt ends.)
        if (await system.limits.releaseLocksOf(id, env).catch(() => false)) {
          system.logger.warn({ queue, jobId: id, job: env.name }, 'lock of a failed stalled job released');
        }
        const error = new Error(
          `Job stalled more than ${system.settings.stall.maxStalls} times (its worker died or hung)`,
        );
        await system.failures.fail(id, queue, env, error, { startedAt: Date.now(), worker: this.id });
        await system.redis.hdel(k.jobs, id);
        out.failed.push(id);
      }
    }
    return out;
  }

  private async trim(): Promise<void> {
    const { system } = this;
    await system.index.trim();
    await system.workerRegistry.trim();
  }

  info(): WorkerInfo {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      lastSeenAt: Date.now(),
      status: this.status,
      leader: this.isLeader(),
      processed: this.runner.processed,
      failed: this.runner.failed,
      memoryMb: Math.round(process.memoryUsage().rss / 1024 / 1024),
      supervisors: this.supervisors.map((sv) => ({
        name: sv.config.name,
        balance: this.opts.concurrency ? 'fixed' : sv.config.balance,
        queues: [...sv.consumers.values()].map((c) => ({
          queue: c.name,
          concurrency: c.concurrency,
          running: c.running,
          paused: c.paused,
        })),
      })),
      running: [...this.runner.running.values()]
        .slice(0, 50)
        .map((r) => ({ id: r.id, name: r.name, queue: r.queue, startedAt: r.startedAt })),
    };
  }

  private async heartbeat(): Promise<void> {
    const { system } = this;
    const info = this.info();
    const now = info.lastSeenAt;
    const { paused, terminateAt } = await system.workerRegistry.beat(info);
    if (this.status !== 'running') return;
    for (const c of this.consumers()) if (c.paused !== paused.has(c.name)) c.setPaused(paused.has(c.name));
    if (this.opts.embedded) return;
    if (terminateAt !== null && terminateAt > this.startedAt) return this.requestExit('terminate requested');
    const { recycle } = system.settings;
    if (recycle.memoryMb && process.memoryUsage().rss > recycle.memoryMb * 1024 * 1024) {
      return this.requestExit(`memory above ${recycle.memoryMb} MB`);
    }
    if (recycle.maxJobs && this.runner.processed + this.runner.failed >= recycle.maxJobs) {
      return this.requestExit(`processed ${recycle.maxJobs} jobs`);
    }
    if (recycle.maxTimeMs && now - this.startedAt >= recycle.maxTimeMs)
      return this.requestExit('max time reached');
  }

  private requestExit(reason: string): void {
    if (this.exitRequested) return;
    this.exitRequested = true;
    this.system.logger.info({ worker: this.id, reason }, 'worker exiting');
    if (this.opts.onExitRequest) this.opts.onExitRequest(reason);
    else void this.stop();
  }

  /**
   * Graceful shutdown: stop taking jobs, give running ones `graceMs` to finish, then abort them (the runner puts
   * them back on their queue, attempt not counted) and close.
   */
  stop(graceMs = this.system.settings.shutdownGraceMs): Promise<void> {
    this.stopped ??= this.doStop(graceMs);
    return this.stopped;
  }

  private async doStop(graceMs: number): Promise<void> {
    const { system } = this;
    this.status = 'stopping';
    const grace = setTimeout(() => this.runner.abortAll(), graceMs);
    try {
      await Promise.all(this.consumers().map((c) => c.stop()));
    } finally {
      clearTimeout(grace);
    }
    for (const t of this.timers) clearInterval(t);
    this.scheduler.stop();
    await this.leader?.stop();
    await system.metrics.flush();
    await system.workerRegistry.remove([this.id]).catch(() => undefined);
    system.logger.info({ worker: this.id, processed: this.runner.processed }, 'worker stopped');
  }
}
