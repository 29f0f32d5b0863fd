import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Organization } from '../tenancy/organization.entity.ts';

export const User = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    email: p.string().length(254).unique(),
    name: p.string().length(120),
    passwordHash: p.string().length(255).hidden().lazy(),
    staff: p.boolean().default(false),
    currentOrganization: () => p.manyToOne(Organization).nullable().deleteRule('set null'),
    lastActiveAt: p.datetime().nullable(),
    timezone: p.string().length(64).default('UTC'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type IUser = InferEntity<typeof User>;
