import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { RedisClient } from '../redis/redis.ts';
import type { MetricsSample } from '../../../shared/schemas/realtime.ts';
import { runDetached } from '../async/detached.ts';
import type { Logger } from '../logger/logger.ts';
import { EventLog, type Retention } from '../pubsub/event-log.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import {
  Connections,
  DEFAULT_REALTIME_LIMITS,
  RealtimeCounters,
  type RealtimeLimits,
} from './connections.ts';
import { LiveRegistry, type LiveEntry } from './live-registry.ts';
import { PresenceStore } from './presence.ts';

const ACCESS_CHANNEL = 'realtime:access';
/** A revocation seen this recently is applied to subscriptions registered after it (they may have passed their
 * start check just before it). */
const REVOCATION_MEMORY_MS = 10_000;

export const METRICS_CHANNEL = 'ops:metrics';
export const METRICS_RETENTION: Retention = { maxLen: 600, maxAgeMs: 10 * 60_000 };

/**
 * The realtime platform of one process: durable channels (log), presence, the WebSockets with their limits, and the
 * registry of live subscriptions that revocation events recheck.
 */
export class Realtime {
  readonly limits: RealtimeLimits;
  readonly counters = new RealtimeCounters();
  readonly connections: Connections;
  readonly log: EventLog;
  readonly presence: PresenceStore;
  readonly live = new LiveRegistry();
  readonly processName = `${os.hostname()}:${process.pid}`;
  private accessListener: Promise<() => void> | null = null;
  private readonly recentRevocations = new Map<string, number>();
  private revalidateTimer: NodeJS.Timeout | null = null;
  private metricsTimer: NodeJS.Timeout | null = null;

  constructor(
    redis: RedisClient,
    private readonly pubsub: PubSub,
    /** This process's pub/sub key space; streams and presence keys live under it. */
    keyspace: string,
    private readonly logger: Logger,
    limits: Partial<RealtimeLimits> = {},
  ) {
    // One object, read at each use: `configure` (tests, the bench) changes limits of a running process.
    const all = (this.limits = { ...DEFAULT_REALTIME_LIMITS, ...limits });
    this.connections = new Connections(this.limits, this.counters);
    this.log = new EventLog(redis, pubsub, `${keyspace}log:`);
    this.presence = new PresenceStore(
      redis,
      this.log,
      `${keyspace}rt:`,
      {
        get ttlMs() {
          return all.presenceTtlMs;
        },
        get heartbeatMs() {
          return all.presenceHeartbeatMs;
        },
      },
      (err) => this.logger.warn({ err }, 'presence heartbeat failed'),
    );
  }

  configure(limits: Partial<RealtimeLimits>): void {
    Object.assign(this.limits, limits);
  }

  /**
   * Tells every process to recheck the live subscriptions depending on any of these keys (`user:<id>`, …). Never
   * fails: the change that took access away has happened either way, and if this message cannot go out the periodic
   * recheck ends those subscriptions.
   */
  async revoke(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.pubsub
      .publish(ACCESS_CHANNEL, { keys })
      .catch((err: unknown) =>
        this.logger.error({ err, keys }, 'revocation not published; the periodic recheck will catch it'),
      );
  }

  private listenForRevocations(): Promise<() => void> {
    // First asked for by the first subscription of the process: listen from no request's scope.
    this.accessListener ??= runDetached(() => this.listenToAccessChannel());
    return this.accessListener;
  }

  private listenToAccessChannel(): Promise<() => void> {
    return this.pubsub.listen<{ keys: string[] }>(ACCESS_CHANNEL, ({ keys }) => {
      const now = Date.now();
      for (const key of keys) this.recentRevocations.set(key, now);
      for (const [key, at] of this.recentRevocations) {
        if (now - at > REVOCATION_MEMORY_MS) this.recentRevocations.delete(key);
      }
      for (const entry of this.live.matching(keys)) void entry.recheck();
    });
  }

  /**
   * Registers a live subscription for revocation events and periodic revalidation. `checkedAt` is when its access
   * was last verified: a revocation of one of its keys seen since then triggers a recheck at once.
   */
  async register(entry: LiveEntry, checkedAt: number): Promise<() => void> {
    await this.listenForRevocations();
    const unregister = this.live.add(entry);
    this.counters.subscriptions++;
    if (entry.keys.some((k) => (this.recentRevocations.get(k) ?? 0) >= checkedAt)) void entry.recheck();
    this.ensureRevalidation();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      unregister();
      this.counters.subscriptions--;
    };
  }

  private ensureRevalidation(): void {
    if (this.revalidateTimer) return;
    // Started by the first subscription: its ticks must not run in that subscription's (tenant's) scope.
    this.revalidateTimer = runDetached(() =>
      setInterval(() => {
        for (const entry of this.live.all()) void entry.recheck();
      }, this.limits.revalidateMs),
    );
    this.revalidateTimer.unref();
  }

  /** Publishes this process's figures to `ops.metrics` every interval, while the server runs. */
  startMetrics(): void {
    if (this.metricsTimer) return;
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let cpu = process.cpuUsage();
    let at = performance.now();
    let last = { ...this.counters };
    this.metricsTimer = runDetached(() =>
      setInterval(() => {
        const now = performance.now();
        const used = process.cpuUsage(cpu);
        const seconds = (now - at) / 1000;
        const c = this.counters;
        const sample: MetricsSample = {
          process: this.processName,
          at: new Date().toISOString(),
          rssMb: Math.round(process.memoryUsage.rss() / 1048576),
          heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
          cpuPercent: Math.round(((used.user + used.system) / 1e6 / seconds) * 1000) / 10,
          eventLoopLagMs: Math.round(lag.percentile(99) / 1e4) / 100,
          connections: c.connections,
          subscriptions: c.subscriptions,
          messagesOut: Math.round((c.messagesOut - last.messagesOut) / seconds),
          messagesIn: Math.round((c.messagesIn - last.messagesIn) / seconds),
          droppedSlow: c.droppedSlow - last.droppedSlow,
          rateLimited: c.rateLimited - last.rateLimited,
        };
        cpu = process.cpuUsage();
        at = now;
        last = { ...c };
        lag.reset();
        this.log
          .publish(METRICS_CHANNEL, sample, METRICS_RETENTION)
          .catch((err: unknown) => this.logger.debug({ err }, 'metrics sample not published'));
      }, this.limits.metricsIntervalMs),
    );
    this.metricsTimer.unref();
  }

  /** Graceful shutdown: clients are asked to reconnect elsewhere, local presence says goodbye. */
  async shutdown(): Promise<void> {
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    this.metricsTimer = null;
    await this.connections.shutdown();
    await this.presence.leaveAll();
  }

  async close(): Promise<void> {
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    this.metricsTimer = this.revalidateTimer = null;
    this.presence.stop();
    if (this.accessListener) (await this.accessListener.catch(() => () => undefined))();
  }
}
