import {
  ChangeSetType,
  wrap,
  type EntityManager,
  type EventSubscriber,
  type FlushEventArgs,
} from '@mikro-orm/core';
import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
import { User } from '../auth/user.entity.ts';
import { ActivityLog, type IActivityLog } from './activity.entity.ts';

export const activityChannel = (organizationId: string) => `org:${organizationId}:activity`;
/** How long `activity.onNew` can replay what a reconnecting client missed; beyond it the client is told to resync. */
export const ACTIVITY_RETENTION: Retention = { maxLen: 1000, maxAgeMs: 24 * 60 * 60_000 };

export function toActivityOutput(a: IActivityLog): ActivityOutput {
  return {
    id: a.id,
    action: a.action,
    userId: a.user?.id ?? null,
    userName: a.user?.name ?? null,
    subjectType: a.subjectType ?? null,
    subjectId: a.subjectId ?? null,
    createdAt: a.createdAt,
  };
}

/** Announces activity rows to live subscribers once they are flushed, through the organization's durable channel. */
export class ActivityPublisher implements EventSubscriber {
  constructor(private readonly log: EventLog) {}

  afterFlush({ em, uow }: FlushEventArgs): void {
    const rows = uow
      .getChangeSets()
      .filter((cs) => cs.type === ChangeSetType.CREATE && cs.meta.class === ActivityLog.class)
      .map((cs) => cs.entity as IActivityLog);
    if (rows.length) void this.announce(em, rows).catch(() => undefined);
  }

  private async announce(em: EntityManager, rows: IActivityLog[]): Promise<void> {
    // The actor's name is on the row only when the flush's EntityManager had loaded the user. The signed-in user is
    // a principal read outside the unit of work (ADR 0070), so its row is usually a bare reference: read the names
    // once per flush, then announce the rows in their order.
    const unnamed = [
      ...new Set(rows.flatMap((r) => (r.user && !wrap(r.user).isInitialized() ? [r.user.id] : []))),
    ];
    const names = new Map<string, string>();
    if (unnamed.length) {
      const users = await em.fork().find(User, { id: { $in: unnamed } }, { fields: ['id', 'name'] });
      for (const u of users) names.set(u.id, u.name);
    }
    for (const row of rows) {
      const out = toActivityOutput(row);
      if (out.userId && out.userName === null) out.userName = names.get(out.userId) ?? null;
      await this.log.publish(activityChannel(row.organization.id), out, ACTIVITY_RETENTION);
    }
  }
}
