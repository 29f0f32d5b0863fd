import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * Jobs that will not run again, kept until an operator retries, forgets or prunes them. Operations data rather
 * than tenant data: system jobs have no organization, and only staff read it (through jobs.service), so it has no
 * tenant filter; the organization is kept for search and is cleared if the organization is deleted.
 */
export const FailedJob = defineEntity({
  name: 'FailedJob',
  tableName: 'failed_jobs',
  indexes: [
    { properties: ['failedAt'] },
    { properties: ['queue', 'failedAt'] },
    { properties: ['name', 'failedAt'] },
  ],
  properties: {
    // The bee-queue job id; a retry reuses it.
    id: p.string().length(100).primary(),
    queue: p.string().length(32),
    name: p.string().length(120),
    organization: () => p.manyToOne(Organization).nullable().deleteRule('set null'),
    batchId: p.string().length(64).nullable(),
    payload: p.json<unknown>(),
    envelope: p.json<Record<string, unknown>>(),
    error: p.text(),
    attempts: p.integer(),
    failedAt: p.datetime(),
  },
});

export type IFailedJob = InferEntity<typeof FailedJob>;
