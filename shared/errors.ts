// Application error codes: what went wrong, in words a client can switch on. Each maps to one tRPC code (and so
// one HTTP status) in server/platform/errors/shape.ts, shared by tRPC and the HTTP routes; clients read
// `error.data.appCode`.

export const APP_ERRORS = {
  VALIDATION_FAILED: 'BAD_REQUEST',
  AUTH_REQUIRED: 'UNAUTHORIZED',
  INVALID_CREDENTIALS: 'UNAUTHORIZED',
  TOKEN_INVALID: 'UNAUTHORIZED',
  TOKEN_EXPIRED: 'UNAUTHORIZED',
  TOKEN_REVOKED: 'UNAUTHORIZED',
  SESSION_EXPIRED: 'UNAUTHORIZED',
  // A signed file link (the link is the capability: signing in again does not help, so not UNAUTHORIZED).
  LINK_INVALID: 'FORBIDDEN',
  LINK_EXPIRED: 'FORBIDDEN',
  ORIGIN_REFUSED: 'FORBIDDEN',
  ABILITY_MISSING: 'FORBIDDEN',
  NOT_A_MEMBER: 'FORBIDDEN',
  STAFF_ONLY: 'FORBIDDEN',
  TENANT_REQUIRED: 'PRECONDITION_FAILED',
  TENANT_SUSPENDED: 'FORBIDDEN',
  PAYMENT_REQUIRED: 'PAYMENT_REQUIRED',
  NOT_FOUND: 'NOT_FOUND',
  EMAIL_TAKEN: 'CONFLICT',
  SLUG_TAKEN: 'CONFLICT',
  CONFLICT: 'CONFLICT',
  LAST_OWNER: 'CONFLICT',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
} as const;

export type AppErrorCode = keyof typeof APP_ERRORS;
export type TrpcErrorCode = (typeof APP_ERRORS)[AppErrorCode];

export interface AppErrorDetails {
  /** Field-level messages, keyed by dotted path. */
  fieldErrors?: Record<string, string[]>;
  retryAfter?: number;
  [key: string]: unknown;
}

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly details: AppErrorDetails;

  constructor(code: AppErrorCode, message: string, details: AppErrorDetails = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  get trpcCode(): TrpcErrorCode {
    return APP_ERRORS[this.code];
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/**
 * What a client may be shown about a failure: an AppError's message is written for clients; anything else (a
 * database, storage or runtime error) carries internal text — SQL, hosts, paths — and is replaced by `fallback`.
 */
export function clientMessage(err: unknown, fallback: string): string {
  return err instanceof AppError ? err.message : fallback;
}
