import { TRPCError } from '@trpc/server';
import { AppError } from '../../shared/errors.ts';

/**
 * The code a call through `createCaller` failed with: the AppError's code, or the tRPC code when zod refused the
 * input before any service ran. Fails the test when the call succeeds or breaks some other way.
 */
export async function failureCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    const cause = err instanceof TRPCError ? err.cause : err;
    if (cause instanceof AppError) return cause.code;
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
  throw new Error('expected the call to fail');
}
