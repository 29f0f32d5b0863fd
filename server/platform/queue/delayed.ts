import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import type { StoreKeys } from './keys.ts';
import { scripts } from './scripts.ts';

/** However far the next delayed job is, a worker looks again this often (bee-queue's `nearTermWindow`). */
const MAX_SLEEP_MS = 20 * 60 * 1000;

/**
 * Moves one queue's delayed jobs onto `waiting` when they are due, as bee-queue's workers do: a timer set for the
 * earliest due time, re-armed when a sooner job is announced on the queue's `earlierDelayed` channel (by a save, or
 * by a retry's finish) and after each raise. Every worker of the queue runs one; the raise is one script, so two
 * raising at once move each job once. The same subscriber hears the queue's `ready` channel (jobs arrived where none
 * were, ADR 0024) for the consumer, which has no blocking pop of its own.
 */
export class DelayedJobs {
  private timer: NodeJS.Timeout | null = null;
  private nextAt = Infinity;
  private stopped = false;
  private subscriber: Redis | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly debounceMs: number,
    private readonly logger: Logger,
    private readonly onReady: () => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    const sub = this.redis.duplicate({ enableAutoPipelining: false, connectionName: 'keel:queue-delayed' });
    this.subscriber = sub;
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, at: string) => {
      if (channel === this.keys.ready) this.onReady();
      else this.schedule(Number(at));
    });
    // A resubscription after a reconnect may have missed announcements: look again.
    sub.on('ready', () => {
      this.schedule(Date.now());
      this.onReady();
    });
    await sub.subscribe(this.keys.earlierDelayed, this.keys.ready);
    await this.raise();
  }

  /** Wakes at `at` (ms) unless already set to wake sooner; now or in the past raises at once. */
  schedule(at: number): void {
    if (this.stopped) return;
    const now = Date.now();
    if (!Number.isFinite(at) || at < 0) at = now + MAX_SLEEP_MS;
    at = Math.min(at, now + MAX_SLEEP_MS);
    if (this.timer && at >= this.nextAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.nextAt = Infinity;
        void this.raise();
      },
      Math.max(0, at - now),
    );
    this.timer.unref();
  }

  private async raise(): Promise<void> {
    if (this.stopped) return;
    try {
      const [, nextAt] = (await scripts.raiseDelayed(
        this.redis,
        [this.keys.delayed, this.keys.waiting, this.keys.orgs, this.keys.orgOf, this.keys.ready],
        [Date.now(), this.debounceMs, this.keys.orgWaiting],
      )) as [number, number];
      this.schedule(nextAt);
    } catch (err) {
      this.logger.warn({ err, queue: this.keys.waiting }, 'raising delayed jobs failed; retrying');
      this.schedule(Date.now() + 1_000);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.subscriber?.quit().catch(() => undefined);
    this.subscriber?.disconnect();
  }
}
