import { ChangeSetType, type EventSubscriber, type FlushEventArgs } from '@mikro-orm/core';
import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import type { PubSub } from '../../platform/pubsub/pubsub.ts';
import { ActivityLog, type IActivityLog } from './activity.entity.ts';

export const activityChannel = (organizationId: string) => `org:${organizationId}:activity`;

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

/** Announces activity rows to live subscribers once they are flushed. */
export class ActivityPublisher implements EventSubscriber {
  constructor(private readonly pubsub: PubSub) {}

  afterFlush({ uow }: FlushEventArgs): void {
    for (const cs of uow.getChangeSets()) {
      if (cs.type !== ChangeSetType.CREATE || cs.meta.class !== ActivityLog.class) continue;
      const row = cs.entity as IActivityLog;
      const orgId = row.organization.id;
      void this.pubsub.publish(activityChannel(orgId), toActivityOutput(row)).catch(() => undefined);
    }
  }
}
