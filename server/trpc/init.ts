import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { shapeError } from '../platform/errors/shape.ts';
import type { InnerContext } from './context.ts';

const t = initTRPC.context<InnerContext>().create({
  transformer: superjson,
  isDev: false,
  // Errors are shaped in one place, shared with the HTTP routes outside tRPC (ADR 0004).
  errorFormatter: ({ shape, error, ctx }) =>
    shapeError(error, {
      ...(shape.data.path ? { path: shape.data.path } : {}),
      ...(ctx?.requestId ? { requestId: ctx.requestId } : {}),
    }),
});

export const router = t.router;
export const middleware = t.middleware;
export const baseProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
export const mergeRouters = t.mergeRouters;
