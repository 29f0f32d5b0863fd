import { z } from 'zod';
import { text, uuid } from './common.ts';
import { ORGANIZATION_TIERS } from './tenancy.ts';

// Inputs of the operations console's own procedures (tenants, operator audit log, id lookups).

/** What an operator action is about; the console shows each page's entries by these. */
export const OPS_TARGET_TYPES = [
  'organization',
  'job',
  'queue',
  'batch',
  'workers',
  'flag',
  'stripe_event',
  'subscription',
  'system',
] as const;
export type OpsTargetType = (typeof OPS_TARGET_TYPES)[number];

/** `<area>.<verb>`, e.g. `tenant.suspend`, `job.retry`, `flag.kill`. */
export const opsAction = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/, 'must look like area.verb')
  .max(60);

const page = {
  limit: z.number().int().min(1).max(100).default(25),
  offset: z.number().int().min(0).max(1_000_000).default(0),
};

export const TENANT_STATUSES = ['active', 'suspended'] as const;

export const tenantListInput = z
  .object({
    query: z.string().trim().max(120).optional(),
    tier: z.enum(ORGANIZATION_TIERS).optional(),
    status: z.enum(TENANT_STATUSES).optional(),
    ...page,
  })
  .strict();

export const tenantIdInput = z.object({ id: uuid }).strict();

export const tenantMembersInput = z.object({ id: uuid, ...page }).strict();

export const suspendTenantInput = z.object({ id: uuid, reason: text(500) }).strict();

export const reactivateTenantInput = z.object({ id: uuid, reason: text(500).optional() }).strict();

export const auditListInput = z
  .object({
    targetType: z.enum(OPS_TARGET_TYPES).optional(),
    targetId: z.string().trim().min(1).max(255).optional(),
    operatorId: uuid.optional(),
    action: opsAction.optional(),
    ...page,
  })
  .strict();

/** Names for ids the metrics store keeps (top organizations and users), at most one page of each. */
export const lookupInput = z
  .object({
    organizationIds: z.array(uuid).max(100).default([]),
    userIds: z.array(uuid).max(100).default([]),
  })
  .strict();
