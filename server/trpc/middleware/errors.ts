import { ConnectionException, DriverException } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
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

/** Gives service errors their tRPC code, and logs the unexpected ones (which clients see only as "internal"). */
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
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      ctx.deps.logger.error(
        { err: cause ?? result.error, path, requestId: ctx.requestId },
        'procedure failed',
      );
    }
  }
  return result;
});
