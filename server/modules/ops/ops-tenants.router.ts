import {
  auditListInput,
  lookupInput,
  reactivateTenantInput,
  suspendTenantInput,
  tenantIdInput,
  tenantListInput,
  tenantMembersInput,
} from '../../../shared/schemas/ops.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { opsTenantSchedulesInput, opsTenantSchedulesOutput } from '../../../shared/schemas/schedules.ts';
import { listSchedulesForOps } from '../schedules/schedules.service.ts';
import { listOperatorActions, operatorOf } from './ops-audit.ts';
import { listTenantMembers, listTenants, lookupNames, setTenantActive, tenantDetail } from './ops.service.ts';

/** `ops.tenants`: search, inspect, suspend and reactivate organizations. */
export const opsTenantsRouter = router({
  list: opsProcedure.input(tenantListInput).query(({ ctx, input }) => listTenants(ctx.em, input)),

  get: opsProcedure.input(tenantIdInput).query(({ ctx, input }) => {
    // Reads another tenant's rows (inside its scope): logged, like every cross-tenant read by staff.
    ctx.deps.logger.info({ staffUserId: ctx.auth.user.id, organizationId: input.id }, 'ops viewed a tenant');
    return tenantDetail(ctx.em, ctx.deps.em, ctx.deps.observability.console, input.id);
  }),

  members: opsProcedure.input(tenantMembersInput).query(({ ctx, input }) => {
    ctx.deps.logger.info(
      { staffUserId: ctx.auth.user.id, organizationId: input.id },
      'ops listed tenant members',
    );
    return listTenantMembers(ctx.em, ctx.deps.em, input.id, input.limit, input.offset);
  }),

  /** The organization's own schedules (ADR 0023), read-only here: tenants manage them through the API. */
  schedules: opsProcedure
    .input(opsTenantSchedulesInput)
    .output(opsTenantSchedulesOutput)
    .query(({ ctx, input }) => {
      ctx.deps.logger.info(
        { staffUserId: ctx.auth.user.id, organizationId: input.id },
        'ops listed tenant schedules',
      );
      return listSchedulesForOps(ctx.deps.em, input.id, { limit: input.limit, offset: input.offset });
    }),

  suspend: opsProcedure.input(suspendTenantInput).mutation(({ ctx, input }) =>
    setTenantActive(ctx.em, operatorOf(ctx), {
      id: input.id,
      active: false,
      reason: input.reason,
      requestId: ctx.requestId,
    }),
  ),

  reactivate: opsProcedure.input(reactivateTenantInput).mutation(({ ctx, input }) =>
    setTenantActive(ctx.em, operatorOf(ctx), {
      id: input.id,
      active: true,
      reason: input.reason,
      requestId: ctx.requestId,
    }),
  ),
});

/** `ops.audit`: the operator audit log, filtered to one target for the page where the action happened. */
export const opsAuditRouter = router({
  list: opsProcedure.input(auditListInput).query(({ ctx, input }) => listOperatorActions(ctx.em, input)),
});

/** `ops.lookup`: names for the ids in metrics (top organizations and users). */
export const opsLookupProcedure = opsProcedure
  .input(lookupInput)
  .query(({ ctx, input }) => lookupNames(ctx.em, input));
