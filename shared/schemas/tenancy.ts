import { z } from 'zod';
import { ROLES } from '../permissions.ts';
import { text, uuid } from './common.ts';

export const ORGANIZATION_TIERS = ['free', 'professional', 'enterprise'] as const;
export type OrganizationTier = (typeof ORGANIZATION_TIERS)[number];

export const slug = z
  .string()
  .trim()
  .toLowerCase()
  .min(2, 'must be at least 2 characters')
  .max(63, 'must be at most 63 characters')
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and inner hyphens only');

export const organizationOutput = z.object({
  id: uuid,
  name: z.string(),
  slug: z.string(),
  tier: z.enum(ORGANIZATION_TIERS),
  active: z.boolean(),
  role: z.enum(ROLES),
});
export type OrganizationOutput = z.infer<typeof organizationOutput>;

export const switchOrganizationInput = z.object({ organizationId: uuid }).strict();

export const updateOrganizationInput = z
  .object({
    name: text(120).optional(),
    billingEmail: z.email().max(254).nullable().optional(),
    settings: z
      .object({
        timezone: z.string().max(64).optional(),
        locale: z.string().max(16).optional(),
        dashboardCacheSeconds: z.number().int().min(0).max(3600).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const memberOutput = z.object({
  userId: uuid,
  email: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  joinedAt: z.date(),
});

export const changeRoleInput = z.object({ userId: uuid, role: z.enum(ROLES) }).strict();
export const changeRoleOutput = z.object({ userId: uuid, role: z.enum(ROLES) });

export const removeMemberInput = z.object({ userId: uuid }).strict();
