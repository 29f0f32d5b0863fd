import { z } from 'zod';
import {
  memberOutput,
  organizationOutput,
  updateOrganizationInput,
} from '../../../shared/schemas/tenancy.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { listMembers, toOrganizationOutput, updateOrganization } from './tenancy.service.ts';

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
});
