import type { TRPCError } from '@trpc/server';
import type { AppDeps } from '../../deps.ts';
import { appErrorOf, toTrpcError } from '../../platform/errors/shape.ts';
import { middleware } from '../init.ts';

/**
 * Gives service errors their tRPC code. The unexpected ones (which clients see only as "internal") are logged by
 * `logInternalError`, with those raised outside any procedure.
 */
export const mapErrors = middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    const app = appErrorOf(cause);
    // A cause that is not itself an AppError but maps to one is an unreachable or refusing database.
    if (app && app !== cause) {
      ctx.deps.logger.warn({ err: cause, path, requestId: ctx.requestId }, 'database unavailable');
    }
    if (app) throw toTrpcError(app);
  }
  return result;
});

/**
 * tRPC's `onError` (HTTP and WebSocket): every 500 is logged once, with its cause, path and request id, and counted
 * as an exception — whether a procedure threw it or it was raised around one (the transport, the error formatter,
 * serializing a response), where no middleware sees it. Expected failures (typed AppErrors) are not logged here.
 */
export function logInternalError(
  deps: Pick<AppDeps, 'logger' | 'observability'>,
  opts: {
    error: TRPCError;
    path: string | undefined;
    type: string;
    ctx: { requestId: string } | undefined;
    req: { url?: string | undefined };
  },
): void {
  if (opts.error.code !== 'INTERNAL_SERVER_ERROR') return;
  const cause = opts.error.cause ?? opts.error;
  // Failures around a procedure have no path: the URL (without its query, which holds the input) names it.
  const url = opts.req.url?.split('?')[0];
  deps.logger.error(
    { err: cause, path: opts.path, url, type: opts.type, requestId: opts.ctx?.requestId },
    'request failed',
  );
  deps.observability.recordException(cause);
}
