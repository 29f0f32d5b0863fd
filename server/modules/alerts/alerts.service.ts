import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../../platform/redis/redis.ts';
import type { Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { Channel, AlertNotice } from './alert-channels.ts';
import { AlertEvent } from './alert-event.entity.ts';
import type { AlertRule, ChannelName } from './alert-rules.ts';
import type { MetricSource } from './alert-sources.ts';
import { INITIAL_STATE, step, type RuleState } from './alert-state.ts';

export interface AlertEvaluatorDeps {
  redis: RedisClient;
  keyspace: string;
  em: Em;
  logger: Logger;
  rules: AlertRule[];
  sources: Record<string, MetricSource>;
  channels: Partial<Record<ChannelName, Channel>>;
  environment: string;
}

export interface RuleStatus extends RuleState {
  rule: AlertRule;
}

const LOCK_MS = 55_000;

/**
 * Evaluates every rule once. State lives in Redis so any process may evaluate (the scheduler picks one per
 * minute); a lock keeps two evaluations from interleaving and sending the same notification twice.
 */
export class AlertEvaluator {
  constructor(private readonly d: AlertEvaluatorDeps) {}

  private get stateKey() {
    return `${this.d.keyspace}alerts:state`;
  }

  async evaluate(now = Date.now()): Promise<{ evaluated: number; notified: number } | null> {
    const lockKey = `${this.d.keyspace}alerts:lock`;
    const token = randomUUID();
    if (!(await this.d.redis.set(lockKey, token, 'PX', LOCK_MS, 'NX'))) return null;
    let notified = 0;
    try {
      const stored = await this.d.redis.hgetall(this.stateKey);
      for (const rule of this.d.rules) {
        const source = this.d.sources[rule.metric];
        const value = source ? await source(rule.windowSeconds, now).catch(() => null) : null;
        const prev: RuleState = stored[rule.id] ? (JSON.parse(stored[rule.id]!) as RuleState) : INITIAL_STATE;
        const [next, transition] = step(prev, value, now, rule);
        await this.d.redis.hset(this.stateKey, rule.id, JSON.stringify(next));
        if (transition.kind === 'none') continue;
        const delivered: string[] = [];
        const failed: string[] = [];
        if (transition.kind !== 'pending') {
          const notice: AlertNotice = {
            rule,
            kind: transition.kind,
            severity: transition.kind === 'resolve' ? prev.severity : transition.severity,
            value,
            at: new Date(now),
            environment: this.d.environment,
          };
          for (const name of rule.channels) {
            const channel = this.d.channels[name];
            if (!channel) continue;
            try {
              await channel(notice);
              delivered.push(name);
            } catch (err) {
              failed.push(name);
              this.d.logger.error({ err, alert: rule.id, channel: name }, 'alert notification failed');
            }
          }
          notified += 1;
        }
        const em = this.d.em.fork();
        em.create(AlertEvent, {
          ruleId: rule.id,
          kind: transition.kind,
          severity: transition.kind === 'resolve' ? null : (next.severity ?? null),
          value,
          summary: rule.summary,
          delivered,
          failed,
          at: new Date(now),
        });
        await em.flush();
      }
      return { evaluated: this.d.rules.length, notified };
    } finally {
      // Release only our own lock.
      await this.d.redis.eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        1,
        lockKey,
        token,
      );
    }
  }

  async statuses(): Promise<RuleStatus[]> {
    const stored = await this.d.redis.hgetall(this.stateKey);
    return this.d.rules.map((rule) => ({
      rule,
      ...(stored[rule.id] ? (JSON.parse(stored[rule.id]!) as RuleState) : INITIAL_STATE),
    }));
  }

  async history(limit: number, offset: number, ruleId?: string) {
    const [items, total] = await this.d.em.fork().findAndCount(AlertEvent, ruleId ? { ruleId } : {}, {
      orderBy: { at: 'desc', id: 'desc' },
      limit,
      offset,
    });
    return { items, total };
  }
}
