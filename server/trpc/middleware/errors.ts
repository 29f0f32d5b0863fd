import { ConnectionException, DriverException } from '@mikro-orm/core';
import type { TRPCError } from '@trpc/server';
import { AppError } from '../../../shared/errors.ts';
import type { AppDeps } from '../../deps.ts';
import { middleware, toTrpcError } from '../init.ts';

// Socket errors and PostgreSQL's connection-class (08xxx), shutdown (57P0x) and too-many-connections states: the
// database is unreachable or refusing work, which is a retryable 503 for the client, not a bug (500).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);
const UNAVAILABLE_SQLSTATE = /^(08\w{3}|57P0[1-3]|53300)$/;

function databaseUnavailable(cause: unknown): boolean {
  if (cause instanceof ConnectionException) return true;
  if (!(cause instanceof DriverException)) return false;
  const code = String((cause as DriverException & { code?: unknown }).code ?? '');
  return (
    UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code) || /timeout.*connect/i.test(cause.message)
  );
}

/**
 * Gives service errors their tRPC code. The unexpected ones (which clients see only as "internal") are logged by
 * `logInternalError`, with those raised outside any procedure.
 */
export const mapErrors = middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) throw toTrpcError(cause);
    if (databaseUnavailable(cause)) {
      ctx.deps.logger.warn({ err: cause, path, requestId: ctx.requestId }, 'database unavailable');
      throw toTrpcError(
        new AppError('SERVICE_UNAVAILABLE', 'The service is briefly unavailable, try again shortly'),
      );
    }
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
