import type { Em } from '../../platform/db/context.ts';
import { ActivityLog } from './activity.entity.ts';

export interface ActivityInput {
  organizationId: string;
  userId: string | null;
  action: string;
  subjectType?: string;
  subjectId?: string;
  metadata?: Record<string, unknown>;
}

/** Queues an activity row on the (tenant-scoped) EntityManager; it is written by the caller's flush. */
export function recordActivity(em: Em, input: ActivityInput): void {
  em.create(ActivityLog, {
    organization: input.organizationId,
    user: input.userId,
    action: input.action,
    subjectType: input.subjectType ?? null,
    subjectId: input.subjectId ?? null,
    metadata: input.metadata ?? null,
  });
}

export async function recentActivity(em: Em, limit: number) {
  return em.find(ActivityLog, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit, populate: ['user'] });
}
