import { ChangeSetType, type EventSubscriber, type FlushEventArgs } from '@mikro-orm/core';
import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
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

  afterFlush({ uow }: FlushEventArgs): void {
    for (const cs of uow.getChangeSets()) {
      if (cs.type !== ChangeSetType.CREATE || cs.meta.class !== ActivityLog.class) continue;
      const row = cs.entity as IActivityLog;
      const orgId = row.organization.id;
      void this.log
        .publish(activityChannel(orgId), toActivityOutput(row), ACTIVITY_RETENTION)
        .catch(() => undefined);
    }
  }
}
