import { z } from 'zod';
import {
  acceptAsNewUserInput,
  createInvitationInput,
  invitationIdInput,
  invitationOutput,
  invitationPreviewOutput,
  invitationTokenInput,
} from '../../../shared/schemas/invitations.ts';
import { router } from '../../trpc/init.ts';
import {
  abilityProcedure,
  authedProcedure,
  publicProcedure,
  registerProcedure,
} from '../../trpc/procedures.ts';
import {
  acceptAsNewUser,
  acceptInvitation,
  createInvitation,
  listInvitations,
  previewInvitation,
  revokeInvitation,
  toInvitationOutput,
} from './invitations.service.ts';

const accepted = z.object({ organizationId: z.string(), role: z.string() });

export const invitationsRouter = router({
  create: abilityProcedure('members:manage')
    .input(createInvitationInput)
    .output(invitationOutput)
    .mutation(async ({ ctx, input }) =>
      toInvitationOutput(
        await createInvitation(ctx.deps, ctx.em, {
          organizationId: ctx.tenant.organization.id,
          inviter: { id: ctx.auth.user.id, abilities: ctx.tenant.abilities },
          email: input.email,
          role: input.role,
        }),
      ),
    ),

  list: abilityProcedure('members:manage')
    .output(z.array(invitationOutput))
    .query(async ({ ctx }) => (await listInvitations(ctx.em)).map(toInvitationOutput)),

  revoke: abilityProcedure('members:manage')
    .input(invitationIdInput)
    .mutation(async ({ ctx, input }) => {
      await revokeInvitation(ctx.em, input.id);
      return { ok: true as const };
    }),

  /** What the accept page shows before the visitor signs in or signs up. */
  preview: publicProcedure
    .input(invitationTokenInput)
    .output(invitationPreviewOutput)
    .query(({ ctx, input }) => previewInvitation(ctx.deps.em, input.token)),

  accept: authedProcedure
    .input(invitationTokenInput)
    .output(accepted)
    .mutation(({ ctx, input }) => acceptInvitation(ctx.deps.em, ctx.auth.user, input.token)),

  /** Creates the account with the invited email, joins, and signs in. Limited like registration (per IP). */
  acceptAsNewUser: registerProcedure
    .input(acceptAsNewUserInput)
    .output(accepted)
    .mutation(async ({ ctx, input }) => {
      const { user, organizationId, role } = await acceptAsNewUser(ctx.deps.em, input);
      const sessionId = await ctx.deps.sessions.create(user.id);
      ctx.cookies.setSession(sessionId, ctx.deps.config.sessionTtlSeconds);
      return { organizationId, role };
    }),
});
