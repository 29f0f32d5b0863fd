import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { FLAG_KINDS, type JsonValue } from '../../../shared/schemas/flags.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/** A flag definition: global, managed by staff from the operations console. */
export const FeatureFlag = defineEntity({
  name: 'FeatureFlag',
  tableName: 'feature_flags',
  checks: [
    {
      name: 'feature_flags_rollout_check',
      expression: '((rollout_basis_points >= 0) AND (rollout_basis_points <= 10000))',
    },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    key: p.string().length(100).unique(),
    description: p.string().length(500),
    kind: p.enum(FLAG_KINDS),
    variants: p.json<Record<string, JsonValue>>(),
    defaultVariant: p.string().length(40),
    onVariant: p.string().length(40),
    enabled: p.boolean().default(false),
    /** Rollout in hundredths of a percent (0–10000), so 12.34 % is exact. */
    rolloutBasisPoints: p.integer().default(0),
    killed: p.boolean().default(false),
    owner: p.string().length(120),
    expectedRemovalAt: p.datetime().nullable(),
    version: p.integer().default(1),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
export type IFeatureFlag = InferEntity<typeof FeatureFlag>;

/** One organization's forced variant of a flag. Tenant-owned: written inside that organization's scope. */
export const FlagOverride = defineEntity({
  name: 'FlagOverride',
  tableName: 'feature_flag_overrides',
  filters: tenantFilters,
  uniques: [{ properties: ['organization', 'flag'] }],
  indexes: [{ properties: ['flag'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    flag: () => p.manyToOne(FeatureFlag).deleteRule('cascade'),
    variant: p.string().length(40),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
export type IFlagOverride = InferEntity<typeof FlagOverride>;

/**
 * Every change to a flag or an override. Append-only (a trigger refuses UPDATE and DELETE; the application role has no TRUNCATE), and with no
 * foreign keys: deleting a user or an organization must neither fail nor rewrite history.
 */
export const FlagAudit = defineEntity({
  name: 'FlagAudit',
  tableName: 'feature_flag_audit',
  triggers: [
    {
      name: 'feature_flag_audit_append_only',
      timing: 'before',
      events: ['update', 'delete'],
      forEach: 'row',
      body: "raise exception 'feature_flag_audit is append-only';",
    },
  ],
  indexes: [{ properties: ['flagKey', 'createdAt'] }, { properties: ['createdAt'] }],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    flagKey: p.string().length(100),
    action: p.string().length(40),
    actorId: p.uuid().nullable(),
    actorEmail: p.string().length(254).nullable(),
    organizationId: p.uuid().nullable(),
    before: p.json<JsonValue>().nullable(),
    after: p.json<JsonValue>().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IFlagAudit = InferEntity<typeof FlagAudit>;
