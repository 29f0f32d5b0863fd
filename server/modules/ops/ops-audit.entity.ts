import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { JsonValue } from '../../../shared/schemas/flags.ts';

/**
 * What operators did from the console (or the CLI): who, what, to which target, with which details. Global
 * operations data, read by staff only, so it has no tenant filter. Rows are never updated; the operator is kept by
 * id and email without a foreign key, so deleting a staff account does not rewrite history.
 */
export const OpsAudit = defineEntity({
  name: 'OpsAudit',
  tableName: 'ops_audit',
  indexes: [
    { properties: ['createdAt'] },
    { properties: ['targetType', 'targetId', 'createdAt'] },
    { properties: ['operatorId', 'createdAt'] },
  ],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    /** Null for actions without a signed-in operator (CLI, scheduled maintenance). */
    operatorId: p.uuid().nullable(),
    /** The operator's email, or who ran it otherwise (`cli:alice@host`). */
    operator: p.string().length(254),
    action: p.string().length(60),
    targetType: p.string().length(40),
    targetId: p.string().length(255).nullable(),
    details: p.json<Record<string, JsonValue>>(),
    requestId: p.string().length(100).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IOpsAudit = InferEntity<typeof OpsAudit>;
