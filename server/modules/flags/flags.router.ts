import { tracked } from '@trpc/server';
import { z } from 'zod';
import {
  createFlagInput,
  flagAuditInput,
  flagAuditOutput,
  flagEvaluation,
  flagKey,
  flagOutput,
  killFlagInput,
  setOverrideInput,
  updateFlagInput,
  type JsonValue,
} from '../../../shared/schemas/flags.ts';
import type { Em } from '../../platform/db/context.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure, tenantProcedure } from '../../trpc/procedures.ts';
import { operatorOf, recordOperatorAction } from '../ops/ops-audit.ts';
import { openLive } from '../realtime/live.ts';

const evaluations = z.record(z.string(), flagEvaluation);

export const flagsRouter = router({
  /** Every flag's value for the caller's organization. */
  evaluateAll: tenantProcedure
    .output(evaluations)
    .query(({ ctx }) => ctx.deps.flags.evaluateAll(ctx.tenant.organization.id)),

  /**
   * The organization's flag values now, then again after every change to any flag. It streams state, not history:
   * every (re)subscription starts with all values, so a reconnect misses nothing without a replay.
   */
  onChange: tenantProcedure.subscription(async ({ ctx, signal }) => {
    const organizationId = ctx.tenant.organization.id;
    const { flags } = ctx.deps;
    // Any member may read flag values (as evaluateAll), whatever their abilities.
    const live = await openLive(ctx, { signal, ability: null });
    return live.run(async function* (signal) {
      // Listen before the first evaluation, so a change landing in between is not missed.
      const changes = await flags.changes(signal);
      let seq = 0;
      const id = () => `${Date.now()}-${seq++}`;
      yield tracked(id(), { keys: [] as string[], flags: await flags.evaluateAll(organizationId) });
      for await (const change of changes) {
        yield tracked(id(), { keys: change.keys, flags: await flags.evaluateAll(organizationId) });
      }
    });
  }),
});

const actorOf = (ctx: { auth: { user: { id: string; email: string } } }) => ({
  id: ctx.auth.user.id,
  email: ctx.auth.user.email,
});

/**
 * The operator audit log (all ops actions, one place) besides the flags' own before/after history: written once
 * the change succeeded.
 */
function audit(
  ctx: { em: Em; auth: { user: { id: string; email: string } }; requestId: string },
  action: string,
  flag: string,
  details: object,
): Promise<number> {
  return recordOperatorAction(ctx.em, {
    operator: operatorOf(ctx),
    action,
    targetType: 'flag',
    targetId: flag,
    // Inputs are JSON already; the round trip drops absent (undefined) fields.
    details: JSON.parse(JSON.stringify(details)) as Record<string, JsonValue>,
    requestId: ctx.requestId,
  });
}

/** Mounted at `ops.flags`: staff manage definitions, overrides and the kill switch; every change is audited. */
export const opsFlagsRouter = router({
  list: opsProcedure.output(z.array(flagOutput)).query(({ ctx }) => ctx.deps.flags.list()),
  create: opsProcedure
    .input(createFlagInput)
    .output(flagOutput)
    .mutation(async ({ ctx, input }) => {
      const flag = await ctx.deps.flags.create(actorOf(ctx), input);
      await audit(ctx, 'flag.create', input.key, { kind: input.kind, owner: input.owner });
      return flag;
    }),
  update: opsProcedure
    .input(updateFlagInput)
    .output(flagOutput)
    .mutation(async ({ ctx, input }) => {
      const flag = await ctx.deps.flags.update(actorOf(ctx), input);
      const { key, ...changes } = input;
      await audit(ctx, 'flag.update', key, changes);
      return flag;
    }),
  setOverride: opsProcedure.input(setOverrideInput).mutation(async ({ ctx, input }) => {
    const r = await ctx.deps.flags.setOverride(actorOf(ctx), input);
    await audit(ctx, 'flag.setOverride', input.key, {
      organizationId: input.organizationId,
      variant: input.variant,
    });
    return r;
  }),
  kill: opsProcedure
    .input(killFlagInput)
    .output(flagOutput)
    .mutation(async ({ ctx, input }) => {
      const flag = await ctx.deps.flags.kill(actorOf(ctx), input.key, input.killed);
      await audit(ctx, 'flag.kill', input.key, { killed: input.killed });
      return flag;
    }),
  audit: opsProcedure
    .input(flagAuditInput)
    .output(z.object({ total: z.number().int(), items: z.array(flagAuditOutput) }))
    .query(({ ctx, input }) => ctx.deps.flags.auditLog(input)),
  /** One flag as a given organization sees it: for support questions ("why does Acme have the new editor?"). */
  explain: opsProcedure
    .input(z.object({ key: flagKey, organizationId: z.uuid() }).strict())
    .output(flagEvaluation.nullable())
    .query(({ ctx, input }) => ctx.deps.flags.evaluate(input.key, input.organizationId)),
});
