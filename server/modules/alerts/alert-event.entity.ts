import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** Alert history for the console: every state change of every rule. Operational data, not tenant-owned. */
export const AlertEvent = defineEntity({
  name: 'AlertEvent',
  tableName: 'alert_events',
  indexes: [{ properties: ['at'] }, { properties: ['ruleId', 'at'] }],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    ruleId: p.string().length(64),
    kind: p.enum(['pending', 'fire', 'escalate', 'resolve'] as const),
    severity: p.enum(['warning', 'critical'] as const).nullable(),
    value: p.double().nullable(),
    summary: p.string().length(500),
    delivered: p.array<string>().columnType('text[]'),
    failed: p.array<string>().columnType('text[]'),
    at: p.datetime(),
  },
});

export type IAlertEvent = InferEntity<typeof AlertEvent>;
