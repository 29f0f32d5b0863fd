import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ORGANIZATION_TIERS } from '../../../shared/schemas/tenancy.ts';

export const Organization = defineEntity({
  name: 'Organization',
  tableName: 'organizations',
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    name: p.string().length(120),
    slug: p.string().length(63).unique(),
    tier: p.enum(ORGANIZATION_TIERS).default('free'),
    active: p.boolean().default(true),
    billingEmail: p.string().length(254).nullable(),
    stripeCustomerId: p.string().length(255).nullable().unique(),
    settings: p.json<Record<string, unknown>>().default('{}'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type IOrganization = InferEntity<typeof Organization>;
