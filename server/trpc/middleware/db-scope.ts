import { withDbScope } from '../../platform/db/context.ts';
import { ensureLogBindings } from '../../platform/logger/logger.ts';
import { middleware } from '../init.ts';

/** A fresh EntityManager fork for each call, reachable through ctx.em and the async-local scope. */
export const dbScope = middleware(({ ctx, next }) =>
  ensureLogBindings({ requestId: ctx.requestId }, () =>
    withDbScope(ctx.deps.em, undefined, (em) => next({ ctx: { em } })),
  ),
);
