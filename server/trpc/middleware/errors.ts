import { AppError } from '../../../shared/errors.ts';
import { middleware, toTrpcError } from '../init.ts';

/** Gives service errors their tRPC code, and logs the unexpected ones (which clients see only as "internal"). */
export const mapErrors = middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) throw toTrpcError(cause);
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      ctx.deps.logger.error(
        { err: cause ?? result.error, path, requestId: ctx.requestId },
        'procedure failed',
      );
    }
  }
  return result;
});
