import { z } from 'zod';
import { ROLES } from '../permissions.ts';
import { email, linkToken as token, password, text, uuid } from './common.ts';

export const createInvitationInput = z.object({ email, role: z.enum(ROLES) }).strict();
export const invitationIdInput = z.object({ id: uuid }).strict();
export const invitationTokenInput = z.object({ token }).strict();
export const acceptAsNewUserInput = z.object({ token, name: text(120), password }).strict();

export const invitationOutput = z.object({
  id: uuid,
  email: z.string(),
  role: z.enum(ROLES),
  invitedBy: z.string().nullable(),
  expiresAt: z.date(),
  acceptedAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  createdAt: z.date(),
});

export const invitationPreviewOutput = z.object({
  organizationName: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
  expiresAt: z.date(),
  /** Whether an account with the invited email exists (sign in, then accept) or must be created. */
  hasAccount: z.boolean(),
});

export const requestPasswordResetInput = z.object({ email }).strict();
export const completePasswordResetInput = z
  .object({
    token,
    password,
    /** Keep the account's API tokens working; by default a reset revokes them with every session. */
    keepApiTokens: z.boolean().default(false),
  })
  .strict();
