import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/**
 * A registration waiting for its email to be confirmed: what the form asked for (the password already hashed) and
 * the SHA-256 of the confirmation link's token, which the mail job mints (null until then, so no link works). No
 * user exists until the link is used. Not tenant data; expired rows are deleted by the next registration request.
 */
export const PendingRegistration = defineEntity({
  name: 'PendingRegistration',
  tableName: 'pending_registrations',
  indexes: [{ properties: ['email'] }, { properties: ['expiresAt'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    email: p.string().length(254),
    name: p.string().length(120),
    organizationName: p.string().length(120),
    passwordHash: p.string().length(255).hidden().lazy(),
    tokenHash: p.string().length(64).unique().nullable().hidden(),
    expiresAt: p.datetime(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IPendingRegistration = InferEntity<typeof PendingRegistration>;
