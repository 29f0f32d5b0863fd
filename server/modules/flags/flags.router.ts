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
} from '../../../shared/schemas/flags.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure, tenantProcedure } from '../../trpc/procedures.ts';

const evaluations = z.record(z.string(), flagEvaluation);

export const flagsRouter = router({
  /** Every flag's value for the caller's organization. */
  evaluateAll: tenantProcedure
    .output(evaluations)
    .query(({ ctx }) => ctx.deps.flags.evaluateAll(ctx.tenant.organization.id)),

  /** The organization's flag values now, then again after every change to any flag. */
  onChange: tenantProcedure.subscription(async function* ({ ctx, signal }) {
    const organizationId = ctx.tenant.organization.id;
    // Listen before the first evaluation, so a change landing in between is not missed.
    const changes = await ctx.deps.flags.changes(signal ?? new AbortController().signal);
    let seq = 0;
    const id = () => `${Date.now()}-${seq++}`;
    yield tracked(id(), { keys: [] as string[], flags: await ctx.deps.flags.evaluateAll(organizationId) });
    for await (const change of changes) {
      yield tracked(id(), { keys: change.keys, flags: await ctx.deps.flags.evaluateAll(organizationId) });
    }
  }),
});

const actorOf = (ctx: { auth: { user: { id: string; email: string } } }) => ({
  id: ctx.auth.user.id,
  email: ctx.auth.user.email,
});

/** Mounted at `ops.flags`: staff manage definitions, overrides and the kill switch; every change is audited. */
export const opsFlagsRouter = router({
  list: opsProcedure.output(z.array(flagOutput)).query(({ ctx }) => ctx.deps.flags.list()),
  create: opsProcedure
    .input(createFlagInput)
    .output(flagOutput)
    .mutation(({ ctx, input }) => ctx.deps.flags.create(actorOf(ctx), input)),
  update: opsProcedure
    .input(updateFlagInput)
    .output(flagOutput)
    .mutation(({ ctx, input }) => ctx.deps.flags.update(actorOf(ctx), input)),
  setOverride: opsProcedure
    .input(setOverrideInput)
    .mutation(({ ctx, input }) => ctx.deps.flags.setOverride(actorOf(ctx), input)),
  kill: opsProcedure
    .input(killFlagInput)
    .output(flagOutput)
    .mutation(({ ctx, input }) => ctx.deps.flags.kill(actorOf(ctx), input.key, input.killed)),
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
