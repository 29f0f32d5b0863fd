import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * A tenant's schedule: a job from the schedulable list, run at each time its cron meets in its time zone. The
 * leader's tick dispatches rows whose `nextRunAt` has come (index on next_run_at for that scan) and moves
 * `nextRunAt` on with a compare-and-set on its old value.
 */
export const Schedule = defineEntity({
  name: 'Schedule',
  tableName: 'schedules',
  filters: tenantFilters,
  indexes: [{ properties: ['organization', 'createdAt'] }, { properties: ['nextRunAt'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    job: p.string().length(120),
    /** What the client wrote (a cron or a phrase); `cron` is what it means. */
    spec: p.string().length(100),
    cron: p.string().length(100),
    timeZone: p.string().length(64),
    payload: p.json<Record<string, unknown>>(),
    paused: p.boolean().default(false),
    /** Null while paused. */
    nextRunAt: p.datetime().nullable(),
    lastRunAt: p.datetime().nullable(),
    lastJobId: p.string().length(100).nullable(),
    lastError: p.string().length(500).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type ISchedule = InferEntity<typeof Schedule>;
