import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import {
  confirmRegistrationInput,
  createTokenInput,
  createTokenOutput,
  meOutput,
  registerInput,
  registerOutput,
  revokeTokenInput,
  signInInput,
  tokenOutput,
} from '../../../shared/schemas/auth.ts';
import { switchOrganizationInput } from '../../../shared/schemas/tenancy.ts';
import { router } from '../../trpc/init.ts';
import {
  abilityProcedure,
  authedProcedure,
  loginProcedure,
  registerProcedure,
  tenantProcedure,
} from '../../trpc/procedures.ts';
import type { Em } from '../../platform/db/context.ts';
import { readUser } from '../access/principal.ts';
import type { IApiToken } from './api-token.entity.ts';
import * as auth from './auth.service.ts';
import { confirmRegistration, requestRegistration } from './registration.service.ts';

const toTokenOutput = (t: IApiToken) => ({
  id: t.id,
  name: t.name,
  abilities: t.abilities,
  lastUsedAt: t.lastUsedAt ?? null,
  expiresAt: t.expiresAt ?? null,
  revokedAt: t.revokedAt ?? null,
  createdAt: t.createdAt,
});

/** `me` for a user just signed in (or switched): read now, since the cached principal may predate the change. */
async function describeSignedIn(em: Em, userId: string) {
  const user = await readUser(em, userId);
  if (!user) throw new AppError('SESSION_EXPIRED', 'Your session has expired, sign in again');
  return auth.describeMe(em, { user, via: 'session', token: null });
}

export const authRouter = router({
  /**
   * Answers the same for an address with or without an account (and does the same work: registration.service.ts);
   * the mail to the address says which. Limited by the `register` policy (per IP).
   */
  register: registerProcedure
    .input(registerInput)
    .output(registerOutput)
    .mutation(async ({ ctx, input }) => {
      await requestRegistration(ctx.deps, ctx.deps.em, input);
      return { status: 'check-your-email' as const };
    }),

  /** The emailed link: creates the account and signs in, as sign-in does. Limited per IP like sign-in. */
  confirmRegistration: loginProcedure
    .input(confirmRegistrationInput)
    .output(meOutput)
    .mutation(async ({ ctx, input }) => {
      const { user } = await confirmRegistration(ctx.deps.em, input.token);
      const sessionId = await ctx.deps.sessions.create(user.id);
      ctx.cookies.setSession(sessionId, ctx.deps.config.sessionTtlSeconds);
      return describeSignedIn(ctx.em, user.id);
    }),

  signIn: loginProcedure
    .input(signInInput)
    .output(meOutput)
    .mutation(async ({ ctx, input }) => {
      const user = await auth.signIn(ctx.em, input.email, input.password, ctx.deps.rateLimits.signInBackoff);
      const sessionId = await ctx.deps.sessions.create(user.id);
      ctx.cookies.setSession(sessionId, ctx.deps.config.sessionTtlSeconds);
      return describeSignedIn(ctx.em, user.id);
    }),

  signOut: authedProcedure.mutation(async ({ ctx }) => {
    if (ctx.auth.sessionId) {
      // Every process stops accepting the session before this returns; its subscriptions (other tabs, other
      // processes) end now, not at their next recheck.
      await ctx.deps.access.endSession(ctx.auth.sessionId);
    }
    ctx.cookies.clearSession();
    return { ok: true as const };
  }),

  me: authedProcedure.output(meOutput).query(({ ctx }) => auth.describeMe(ctx.em, ctx.auth)),

  switchOrganization: authedProcedure
    .input(switchOrganizationInput)
    .output(meOutput)
    .mutation(async ({ ctx, input }) => {
      if (ctx.auth.token) throw new AppError('NOT_A_MEMBER', 'An API token is bound to its organization');
      await auth.switchOrganization(ctx.em, ctx.auth.user.id, input.organizationId);
      return describeSignedIn(ctx.em, ctx.auth.user.id);
    }),
});

export const tokensRouter = router({
  list: tenantProcedure.output(z.array(tokenOutput)).query(async ({ ctx }) => {
    const tokens = await auth.listTokens(ctx.em, ctx.auth.user.id);
    return tokens.map(toTokenOutput);
  }),

  create: abilityProcedure('tokens:manage')
    .input(createTokenInput)
    .output(createTokenOutput)
    .mutation(async ({ ctx, input }) => {
      const { token, secret } = await auth.createToken(ctx.em, {
        organizationId: ctx.tenant.organization.id,
        userId: ctx.auth.user.id,
        // What this credential holds, not what its owner's role allows: a token grants no more than itself.
        grantorAbilities: ctx.tenant.abilities,
        ...input,
      });
      return { token: toTokenOutput(token), secret };
    }),

  revoke: abilityProcedure('tokens:manage')
    .input(revokeTokenInput)
    .mutation(async ({ ctx, input }) => {
      await auth.revokeToken(ctx.em, ctx.tenant.organization.id, ctx.auth.user.id, input.id);
      return { ok: true as const };
    }),

  /** Revokes the token this request was made with (a script retiring its own credential). */
  revokeCurrent: tenantProcedure.mutation(async ({ ctx }) => {
    if (!ctx.auth.token)
      throw new AppError('VALIDATION_FAILED', 'This request was not made with an API token');
    await auth.revokeToken(ctx.em, ctx.tenant.organization.id, ctx.auth.user.id, ctx.auth.token.id);
    return { ok: true as const };
  }),

  revokeAll: abilityProcedure('tokens:manage').mutation(async ({ ctx }) => {
    const count = await auth.revokeAllTokens(ctx.em, ctx.tenant.organization.id, ctx.auth.user.id);
    return { revoked: count };
  }),
});
