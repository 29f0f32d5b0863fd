import type { AppErrorCode } from '../../../shared/errors.ts';

// Reads the server's error shape (server/trpc/init.ts errorFormatter) from whatever a query or mutation threw.

interface ErrorDataLike {
  appCode?: AppErrorCode;
  fieldErrors?: Record<string, string[]>;
  httpStatus?: number;
  requestId?: string;
}

function dataOf(error: unknown): ErrorDataLike | null {
  if (error && typeof error === 'object' && 'data' in error) {
    const data = (error as { data: unknown }).data;
    if (data && typeof data === 'object') return data as ErrorDataLike;
  }
  return null;
}

export function appCodeOf(error: unknown): AppErrorCode | null {
  return dataOf(error)?.appCode ?? null;
}

export function fieldErrorsOf(error: unknown): Record<string, string[]> {
  return dataOf(error)?.fieldErrors ?? {};
}

export function httpStatusOf(error: unknown): number | null {
  return dataOf(error)?.httpStatus ?? null;
}

export function requestIdOf(error: unknown): string | null {
  return dataOf(error)?.requestId ?? null;
}

/** The caller has no valid session: the answer is to sign in, not to retry. */
export function isSignedOut(error: unknown): boolean {
  const code = appCodeOf(error);
  return code === 'AUTH_REQUIRED' || code === 'SESSION_EXPIRED';
}

/** A sentence for people. Server messages are written for clients; a failed fetch has no server message at all. */
export function messageOf(error: unknown): string {
  if (!dataOf(error)) return 'Cannot reach the server. Check your connection and try again.';
  if (appCodeOf(error) === 'INTERNAL') return 'Something went wrong on our side. Please try again.';
  return error instanceof Error && error.message ? error.message : 'Something went wrong.';
}

/** Client errors (4xx) will not change by retrying; server and network errors may. */
export function isRetryable(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status === null || status >= 500;
}
