import { Cron } from 'croner';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import type { QueueKeys } from './keys.ts';

export interface ScheduledTask {
  name: string;
  /** Croner pattern, seconds optional: `0 * * * * *` every minute, `*\/5 * * * *` every five. */
  cron: string;
  timezone?: string;
  run: () => Promise<void> | void;
}

/**
 * Cron-like tasks, run only by the leader and claimed per tick in Redis, so a leadership hand-over in the middle
 * of a tick cannot run it twice.
 */
export class Scheduler {
  private readonly tasks = new Map<string, ScheduledTask>();
  private readonly crons: Cron[] = [];
  private started = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly isLeader: () => boolean,
    private readonly logger: Logger,
  ) {}

  add(task: ScheduledTask): void {
    if (this.tasks.has(task.name)) throw new Error(`Scheduled task "${task.name}" already exists`);
    // Validates the pattern now rather than at start.
    new Cron(task.cron, { paused: true, ...(task.timezone ? { timezone: task.timezone } : {}) }).stop();
    this.tasks.set(task.name, task);
    if (this.started) this.startTask(task);
  }

  list(): { name: string; cron: string; nextRun: Date | null }[] {
    return [...this.tasks.values()].map((t) => ({
      name: t.name,
      cron: t.cron,
      nextRun: new Cron(t.cron, { paused: true }).nextRun(),
    }));
  }

  start(): void {
    this.started = true;
    for (const task of this.tasks.values()) this.startTask(task);
  }

  private startTask(task: ScheduledTask): void {
    const cron = new Cron(
      task.cron,
      {
        protect: true,
        ...(task.timezone ? { timezone: task.timezone } : {}),
        catch: (err) => this.fail(task, err),
      },
      async (self: Cron) => {
        if (!this.isLeader()) return;
        const tick = (self.currentRun() ?? new Date()).getTime();
        const claimed = await this.redis.set(
          this.keys.schedule(task.name, Math.floor(tick / 1000)),
          '1',
          'EX',
          3600,
          'NX',
        );
        if (!claimed) return;
        await task.run();
      },
    );
    this.crons.push(cron);
  }

  /** Runs a task now, on this process, whoever leads (CLI and tests). */
  async runNow(name: string): Promise<void> {
    const task = this.tasks.get(name);
    if (!task) throw new Error(`No scheduled task "${name}"`);
    await task.run();
  }

  private fail(task: ScheduledTask, err: unknown): void {
    this.logger.error({ err, task: task.name }, 'scheduled task failed');
  }

  stop(): void {
    for (const c of this.crons) c.stop();
    this.crons.length = 0;
    this.started = false;
  }
}
