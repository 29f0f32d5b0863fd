import { ConnectionException, DriverException } from '@mikro-orm/core';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import {
  TRPC_ERROR_CODES_BY_KEY,
  type TRPC_ERROR_CODE_KEY,
  type TRPC_ERROR_CODE_NUMBER,
} from '@trpc/server/rpc';
import { AppError, type AppErrorCode } from '../../../shared/errors.ts';
import { READ_TIMEOUT_MESSAGE } from '../db/pg-bounds.ts';

/**
 * The one place errors are shaped for clients (ADR 0004): tRPC's error formatter and every HTTP route outside tRPC
 * (Fastify's error and not-found handlers, refused bodies, shutdown, webhooks, file links, rate limits, /metrics)
 * call `shapeError`, so the same AppError has the same status and body wherever it is raised. A client gets an app
 * code to switch on, field errors for forms, and never a stack trace or an internal message.
 */

export interface ErrorData {
  code: string;
  httpStatus: number;
  path?: string;
  appCode: AppErrorCode;
  fieldErrors?: Record<string, string[]>;
  retryAfter?: number;
  /** Anything else a service attached for the client (e.g. the latest document on a CONFLICT). */
  details?: Record<string, unknown>;
  requestId?: string;
}

/** tRPC's error shape (JSON-RPC code, message, data): the `error` of every error body Keel sends. */
export interface ErrorShape {
  code: TRPC_ERROR_CODE_NUMBER;
  message: string;
  data: ErrorData;
}

interface Issue {
  path?: readonly (PropertyKey | { key: PropertyKey })[];
  message: string;
  code?: string;
  keys?: readonly string[];
}

/**
 * Keys superjson refuses to serialize (a prototype-pollution guard): a field error under one of them would turn a
 * 400 into a 500, so it is reported at the form level (`_`), naming the field.
 */
const UNSERIALIZABLE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Field errors keyed by dotted path. The keys come from the caller's input (unknown fields, record keys), so they
 * are collected in a Map: on a plain object `constructor` or `toString` would find Object.prototype's members.
 */
function fieldErrorsFrom(issues: readonly Issue[]): Record<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (key: string, message: string) => {
    const [at, text] = UNSERIALIZABLE_KEYS.has(key) ? ['_', `"${key}" ${message}`] : [key, message];
    const list = out.get(at);
    if (list) list.push(text);
    else out.set(at, [text]);
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      const base = (issue.path ?? []).map(String).join('.');
      for (const k of issue.keys) add(base ? `${base}.${k}` : k, 'is not an accepted field');
      continue;
    }
    const key =
      (issue.path ?? []).map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.') || '_';
    add(key, issue.message);
  }
  return Object.fromEntries(out);
}

function issuesOf(cause: unknown): readonly Issue[] | null {
  if (cause && typeof cause === 'object' && 'issues' in cause && Array.isArray(cause.issues)) {
    return cause.issues as Issue[];
  }
  return null;
}

// Socket errors and PostgreSQL's connection-class (08xxx), shutdown (57P0x) and too-many-connections states: the
// database is unreachable or refusing work, which is a retryable 503 for the client, not a bug (500). So are the
// bounds of platform/db/pg-bounds.ts: a statement the server cancelled at its statement_timeout (57014), and one
// whose answer the client stopped waiting for (a server that does not answer).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);
const UNAVAILABLE_SQLSTATE = /^(08\w{3}|57P0[1-3]|53300|57014)$/;

function databaseUnavailable(cause: unknown): boolean {
  if (cause instanceof ConnectionException) return true;
  // The client's bounds (pg-bounds.ts) are raised by pg and pg-pool and also reach here unwrapped: from statements
  // run on the connection directly (access/principal.ts) and from a transaction's BEGIN.
  if (
    cause instanceof Error &&
    (cause.message.includes(READ_TIMEOUT_MESSAGE) || /timeout.*connect/i.test(cause.message))
  ) {
    return true;
  }
  if (!(cause instanceof DriverException)) return false;
  const code = String((cause as DriverException & { code?: unknown }).code ?? '');
  return UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code);
}

/**
 * The typed error a failure means for a client: an AppError is itself; an unreachable or refusing database is a
 * retryable SERVICE_UNAVAILABLE; anything else is not known to be the client's business (null).
 */
export function appErrorOf(err: unknown): AppError | null {
  if (err instanceof AppError) return err;
  if (databaseUnavailable(err)) {
    return new AppError('SERVICE_UNAVAILABLE', 'The service is briefly unavailable, try again shortly');
  }
  return null;
}

/** AppErrors become TRPCErrors with their mapped code, keeping the AppError as cause. */
export function toTrpcError(err: AppError): TRPCError {
  return new TRPCError({ code: err.trpcCode, message: err.message, cause: err });
}

/** What tRPC calls the errors it raises itself, when it raises them for a reason an app code names. */
const TRPC_APP_CODES: Partial<Record<TRPC_ERROR_CODE_KEY, AppErrorCode>> = {
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAUTHORIZED: 'AUTH_REQUIRED',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
};

/** The statuses the HTTP framework itself refuses requests with (bodies, content types, methods), by tRPC code. */
const FRAMEWORK_STATUS_CODES: Partial<Record<number, TRPC_ERROR_CODE_KEY>> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_SUPPORTED',
  408: 'TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

/**
 * Any thrown value as the TRPCError it stands for. A TRPCError is itself; an AppError (or an unavailable database)
 * gets its mapped code; an error Fastify raised before a route ran (a `statusCode` under 500: oversized or
 * malformed body, unsupported content type) keeps its status and its fixed message; anything else is internal.
 */
export function asTrpcError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  const app = appErrorOf(err);
  if (app) return toTrpcError(app);
  const status = err instanceof Error && 'statusCode' in err ? Number(err.statusCode) : 500;
  if (err instanceof Error && status >= 400 && status < 500) {
    return new TRPCError({ code: FRAMEWORK_STATUS_CODES[status] ?? 'BAD_REQUEST', message: err.message });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error', cause: err });
}

/** Shapes a failure for the client. `where` names the request (and the procedure, for tRPC calls). */
export function shapeError(err: unknown, where: { requestId?: string; path?: string } = {}): ErrorShape {
  const error = asTrpcError(err);
  // An AppError decides its code even when something wrapped it (tRPC wraps whatever a resolver throws).
  const cause = error.cause;
  const app = cause instanceof AppError ? cause : null;
  const code = app ? app.trpcCode : error.code;
  const httpStatus = getHTTPStatusCodeFromError(app ? toTrpcError(app) : error);
  let appCode: AppErrorCode;
  let message = error.message;
  let fieldErrors: Record<string, string[]> | undefined;
  let retryAfter: number | undefined;
  let details: Record<string, unknown> | undefined;
  const issues = issuesOf(cause);
  if (app) {
    appCode = app.code;
    message = app.message;
    fieldErrors = app.details.fieldErrors;
    retryAfter = app.details.retryAfter;
    const { fieldErrors: _f, retryAfter: _r, ...rest } = app.details;
    if (Object.keys(rest).length) details = rest;
  } else if (code === 'BAD_REQUEST' && issues) {
    appCode = 'VALIDATION_FAILED';
    fieldErrors = fieldErrorsFrom(issues);
    message = 'Invalid input';
  } else if (httpStatus >= 500) {
    appCode = 'INTERNAL';
    message = 'Internal server error';
  } else {
    // Errors tRPC or Fastify raise themselves (unparsable body, unsupported content type, unknown procedure, …).
    // Their own have fixed messages; one with a cause is a decoding failure whose message is the library's or the
    // runtime's ("Cannot destructure property 'json' of 'payload' as it is null", "Maximum call stack size
    // exceeded"), so the client gets a fixed one.
    appCode = TRPC_APP_CODES[code] ?? 'VALIDATION_FAILED';
    if (cause !== undefined) message = 'The request could not be decoded (malformed JSON or superjson)';
  }
  const data: ErrorData = {
    code,
    httpStatus,
    ...(where.path ? { path: where.path } : {}),
    appCode,
    ...(fieldErrors ? { fieldErrors } : {}),
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    ...(details ? { details } : {}),
    ...(where.requestId ? { requestId: where.requestId } : {}),
  };
  return { code: TRPC_ERROR_CODES_BY_KEY[code], message, data };
}
