// The typed Keel SDK for TypeScript programs (Node ≥ 22): every procedure of the API with its input and output
// types, queries and mutations over HTTP (batched), subscriptions over one WebSocket.
import { isTRPCClientError, type TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppErrorCode } from '../errors.ts';
import type { AppRouter } from '../../server/trpc/router.ts';

export { createKeelClient } from './client.ts';
export { signIn, type SignInOptions } from './sign-in.ts';
export type { KeelClient, KeelClientOptions, WebSocketImplementation } from './client.ts';
export type { AppRouter };
export type { AppErrorCode };

/** `RouterInputs['tokens']['create']` is the input of `tokens.create`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** `RouterOutputs['auth']['me']` is what `auth.me` returns. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;

export type KeelError = TRPCClientError<AppRouter>;

/**
 * Whether `err` is an error answered by Keel (optionally: with this app code). Its `data` then carries `appCode`,
 * `httpStatus`, `fieldErrors` for invalid input, `retryAfter` for rate limits and the `requestId` to quote.
 */
export function isKeelError(err: unknown, appCode?: AppErrorCode): err is KeelError {
  if (!isTRPCClientError<AppRouter>(err)) return false;
  return appCode === undefined || err.data?.appCode === appCode;
}
