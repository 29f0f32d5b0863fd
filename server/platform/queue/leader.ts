import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import { scripts } from './scripts.ts';

/**
 * One leader among the worker processes, by a Redis key with a TTL: the holder renews it every third of the TTL;
 * if it dies, another process takes over within one TTL. Leaders run the stall checker, the scheduler and trims.
 */
export class LeaderElection {
  private timer: NodeJS.Timeout | null = null;
  private leading = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly id: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly onChange?: (leader: boolean) => void,
  ) {}

  isLeader(): boolean {
    return this.leading;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const renewed = this.leading
        ? Number(await scripts.renewIfEq(this.redis, [this.key], [this.id, this.ttlMs])) === 1
        : (await this.redis.set(this.key, this.id, 'PX', this.ttlMs, 'NX')) === 'OK';
      this.set(renewed);
    } catch (err) {
      // Without Redis we cannot know whether someone else leads: step down rather than risk two leaders.
      this.logger.warn({ err }, 'leader election failed');
      this.set(false);
    }
  }

  private set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.logger.info({ key: this.key, leader: leading }, leading ? 'became leader' : 'no longer leader');
    this.onChange?.(leading);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.leading) await scripts.delIfEq(this.redis, [this.key], [this.id]).catch(() => undefined);
    this.set(false);
  }
}
