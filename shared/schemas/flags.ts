import { z } from 'zod';
import { dateInRange, text, uuid } from './common.ts';

export const FLAG_KINDS = ['boolean', 'variant'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

/** Why a flag has the value it has, in the order evaluation tries them. */
export const FLAG_REASONS = ['KILLED', 'OVERRIDE', 'ROLLOUT', 'GLOBAL', 'DEFAULT'] as const;
export type FlagReason = (typeof FLAG_REASONS)[number];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export const flagKey = z
  .string()
  .regex(
    /^[a-z][a-z0-9._-]{1,99}$/,
    'must be 2-100 lowercase letters, digits, ".", "_" or "-", starting with a letter',
  );
export const variantName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/i, 'must be 1-40 letters, digits, "_" or "-"');

/** Boolean flags have exactly these two variants. */
export const BOOLEAN_VARIANTS = { on: true, off: false } as const;

const variants = z
  .record(variantName, z.json())
  .refine((v) => Object.keys(v).length >= 2 && Object.keys(v).length <= 20, 'must have 2 to 20 variants')
  .refine((v) => JSON.stringify(v).length <= 16_384, 'must be at most 16 KB of JSON');

const percentage = z.number().min(0).max(100).multipleOf(0.01, 'at most two decimals');

export const createFlagInput = z
  .object({
    key: flagKey,
    description: text(500),
    kind: z.enum(FLAG_KINDS),
    /** Required for variant flags; boolean flags always have `on` (true) and `off` (false). */
    variants: variants.optional(),
    /** Served when the flag is off (and when killed). Boolean flags default to `off`. */
    defaultVariant: variantName.optional(),
    /** Served to organizations the flag is on for (global on, or inside the rollout). Boolean: `on`. */
    onVariant: variantName.optional(),
    enabled: z.boolean().default(false),
    rolloutPercentage: percentage.default(0),
    owner: text(120),
    expectedRemovalAt: dateInRange().nullable().default(null),
  })
  .strict();
export type CreateFlagInput = z.infer<typeof createFlagInput>;

export const updateFlagInput = z
  .object({
    key: flagKey,
    description: text(500).optional(),
    variants: variants.optional(),
    defaultVariant: variantName.optional(),
    onVariant: variantName.optional(),
    enabled: z.boolean().optional(),
    rolloutPercentage: percentage.optional(),
    owner: text(120).optional(),
    expectedRemovalAt: dateInRange().nullable().optional(),
  })
  .strict();
export type UpdateFlagInput = z.infer<typeof updateFlagInput>;

export const setOverrideInput = z
  .object({
    key: flagKey,
    organizationId: uuid,
    /** null removes the organization's override. */
    variant: variantName.nullable(),
  })
  .strict();
export type SetOverrideInput = z.infer<typeof setOverrideInput>;

export const killFlagInput = z.object({ key: flagKey, killed: z.boolean() }).strict();

export const flagAuditInput = z
  .object({
    key: flagKey.optional(),
    limit: z.number().int().min(1).max(200).default(50),
    offset: z.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();

export const flagOutput = z.object({
  key: z.string(),
  description: z.string(),
  kind: z.enum(FLAG_KINDS),
  variants: z.record(z.string(), z.json()),
  defaultVariant: z.string(),
  onVariant: z.string(),
  enabled: z.boolean(),
  rolloutPercentage: z.number(),
  killed: z.boolean(),
  owner: z.string(),
  expectedRemovalAt: z.date().nullable(),
  /** Past its expected removal date: the code paths behind it should be cleaned up. */
  stale: z.boolean(),
  overrides: z.number().int(),
  version: z.number().int(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type FlagOutput = z.infer<typeof flagOutput>;

export const flagEvaluation = z.object({
  value: z.json(),
  variant: z.string(),
  reason: z.enum(FLAG_REASONS),
});
export type FlagEvaluation = { value: JsonValue; variant: string; reason: FlagReason };

export const flagAuditOutput = z.object({
  id: z.number(),
  flagKey: z.string(),
  action: z.string(),
  actorId: z.string().nullable(),
  actorEmail: z.string().nullable(),
  organizationId: z.string().nullable(),
  before: z.json().nullable(),
  after: z.json().nullable(),
  createdAt: z.date(),
});
