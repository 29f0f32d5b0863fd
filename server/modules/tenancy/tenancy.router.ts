import { z } from 'zod';
import {
  changeRoleInput,
  changeRoleOutput,
  memberOutput,
  organizationOutput,
  removeMemberInput,
  updateOrganizationInput,
} from '../../../shared/schemas/tenancy.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure, tenantProcedure } from '../../trpc/procedures.ts';
import {
  changeMemberRole,
  leaveOrganization,
  listMembers,
  removeMember,
  toOrganizationOutput,
  updateOrganization,
} from './tenancy.service.ts';

const organizationDetail = organizationOutput.extend({
  billingEmail: z.string().nullable(),
  settings: z.object({ timezone: z.string(), locale: z.string(), dashboardCacheSeconds: z.number() }),
});

export const organizationRouter = router({
  current: abilityProcedure('read')
    .output(organizationDetail)
    .query(({ ctx }) => ({
      ...toOrganizationOutput(ctx.tenant.organization, ctx.tenant.role),
      billingEmail: ctx.tenant.organization.billingEmail ?? null,
      settings: ctx.tenant.settings,
    })),

  update: abilityProcedure('settings:manage')
    .input(updateOrganizationInput)
    .output(organizationOutput)
    .mutation(async ({ ctx, input }) => {
      const org = await updateOrganization(ctx.em, ctx.tenant.organization.id, ctx.auth.user.id, input);
      return toOrganizationOutput(org, ctx.tenant.role);
    }),

  members: abilityProcedure('read')
    .output(z.array(memberOutput))
    .query(({ ctx }) => listMembers(ctx.em)),

  changeRole: abilityProcedure('members:manage')
    .input(changeRoleInput)
    .output(changeRoleOutput)
    .mutation(({ ctx, input }) =>
      changeMemberRole(ctx.em, {
        organizationId: ctx.tenant.organization.id,
        actorId: ctx.auth.user.id,
        actorRole: ctx.tenant.role,
        actorAbilities: ctx.tenant.abilities,
        userId: input.userId,
        role: input.role,
      }),
    ),

  removeMember: abilityProcedure('members:manage')
    .input(removeMemberInput)
    .output(z.object({ userId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      await removeMember(ctx.em, {
        organizationId: ctx.tenant.organization.id,
        actorId: ctx.auth.user.id,
        actorRole: ctx.tenant.role,
        userId: input.userId,
      });
      return { userId: input.userId };
    }),

  leave: tenantProcedure.output(z.object({ organizationId: z.uuid() })).mutation(async ({ ctx }) => {
    await leaveOrganization(ctx.em, ctx.tenant.organization.id, ctx.auth.user.id);
    return { organizationId: ctx.tenant.organization.id };
  }),
});
