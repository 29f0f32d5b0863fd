import { z } from 'zod';
import { ABILITIES, ROLES } from '../permissions.ts';
import { email, linkToken, password, text, uuid } from './common.ts';
import { organizationOutput } from './tenancy.ts';

export const registerInput = z
  .object({
    email,
    password,
    name: text(120),
    organizationName: text(120),
  })
  .strict();

/** The same answer for every address: whether it already has an account is told only by mail to it. */
export const registerOutput = z.object({ status: z.literal('check-your-email') });

export const confirmRegistrationInput = z.object({ token: linkToken }).strict();

export const signInInput = z
  .object({
    email,
    // Not the password policy: an old password that predates a policy change must still sign in.
    password: z.string().min(1, 'is required').max(256),
  })
  .strict();

export const userOutput = z.object({
  id: uuid,
  email: z.string(),
  name: z.string(),
  staff: z.boolean(),
  timezone: z.string(),
});

export const meOutput = z.object({
  user: userOutput,
  organization: organizationOutput.nullable(),
  organizations: z.array(organizationOutput),
  abilities: z.array(z.enum(ABILITIES)),
  via: z.enum(['session', 'token']),
});
export type MeOutput = z.infer<typeof meOutput>;

export const createTokenInput = z
  .object({
    name: text(120),
    abilities: z.array(z.enum(ABILITIES)).min(1, 'choose at least one ability').max(ABILITIES.length),
    expiresInDays: z.number().int().min(1).max(3650).nullish(),
  })
  .strict();

export const tokenOutput = z.object({
  id: uuid,
  name: z.string(),
  abilities: z.array(z.enum(ABILITIES)),
  lastUsedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  createdAt: z.date(),
});

export const createTokenOutput = z.object({
  token: tokenOutput,
  /** Shown once: only its SHA-256 is stored. */
  secret: z.string(),
});

export const revokeTokenInput = z.object({ id: uuid }).strict();

export const roleSchema = z.enum(ROLES);
