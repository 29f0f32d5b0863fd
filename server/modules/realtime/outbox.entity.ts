import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * An event-log message written in the transaction of the change it announces and deleted once published: a change
 * committed while Redis is down (or by a process that dies before publishing) is still announced, later. Tenant
 * data (it carries what the event carries). `keySpace` is the event log's key prefix: deployments or test runs
 * sharing a database each sweep only their own messages.
 */
export const OutboxMessage = defineEntity({
  name: 'OutboxMessage',
  tableName: 'realtime_outbox',
  filters: tenantFilters,
  indexes: [{ properties: ['keySpace', 'id'] }],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    keySpace: p.text(),
    channel: p.string().length(300),
    payload: p.json<unknown>(),
    maxLen: p.integer(),
    maxAgeMs: p.bigint('number'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IOutboxMessage = InferEntity<typeof OutboxMessage>;
