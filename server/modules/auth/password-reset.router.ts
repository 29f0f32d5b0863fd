import {
  completePasswordResetInput,
  requestPasswordResetInput,
} from '../../../shared/schemas/invitations.ts';
import { router } from '../../trpc/init.ts';
import { anonymousLimitedProcedure, loginProcedure } from '../../trpc/procedures.ts';
import { completePasswordReset, requestPasswordReset } from './password-reset.service.ts';

export const passwordResetRouter = router({
  /**
   * Always answers ok, doing the same work for unknown emails. Limited to 3 per email an hour, and by the anonymous
   * `api` limit per IP (each request queues a mail job, whether or not the address has an account).
   */
  request: anonymousLimitedProcedure.input(requestPasswordResetInput).mutation(async ({ ctx, input }) => {
    await requestPasswordReset(ctx.deps, input.email);
    return { ok: true as const };
  }),
  /**
   * Limited per IP like sign-in. Signs the user out everywhere and revokes their API tokens (unless
   * `keepApiTokens`); they sign in with the new password.
   */
  complete: loginProcedure.input(completePasswordResetInput).mutation(async ({ ctx, input }) => {
    await completePasswordReset(ctx.deps, ctx.em, input.token, input.password, {
      keepApiTokens: input.keepApiTokens,
    });
    return { ok: true as const };
  }),
});
