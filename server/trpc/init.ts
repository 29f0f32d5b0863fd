import { initTRPC, TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import superjson from 'superjson';
import { AppError, type AppErrorCode } from '../../shared/errors.ts';
import type { InnerContext } from './context.ts';

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

/** AppErrors thrown by services become TRPCErrors with the mapped code, keeping the AppError as cause. */
export function toTrpcError(err: AppError): TRPCError {
  return new TRPCError({ code: err.trpcCode, message: err.message, cause: err });
}

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

const TRPC_APP_CODES: Partial<Record<TRPC_ERROR_CODE_KEY, AppErrorCode>> = {
  NOT_FOUND: 'NOT_FOUND',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAUTHORIZED: 'AUTH_REQUIRED',
  TOO_MANY_REQUESTS: 'RATE_LIMITED',
  CONFLICT: 'CONFLICT',
};

const t = initTRPC.context<InnerContext>().create({
  transformer: superjson,
  isDev: false,
  // The one place errors are shaped for clients: an app code to switch on, field errors for forms, and never a
  // stack trace or an internal message.
  errorFormatter({ shape, error, ctx }) {
    const cause = error.cause;
    let appCode: AppErrorCode;
    let message = shape.message;
    let fieldErrors: Record<string, string[]> | undefined;
    let retryAfter: number | undefined;
    let details: Record<string, unknown> | undefined;
    const issues = issuesOf(cause);
    if (cause instanceof AppError) {
      appCode = cause.code;
      fieldErrors = cause.details.fieldErrors;
      retryAfter = cause.details.retryAfter;
      const { fieldErrors: _f, retryAfter: _r, ...rest } = cause.details;
      if (Object.keys(rest).length) details = rest;
    } else if (error.code === 'BAD_REQUEST' && issues) {
      appCode = 'VALIDATION_FAILED';
      fieldErrors = fieldErrorsFrom(issues);
      message = 'Invalid input';
    } else if (shape.data.httpStatus >= 500) {
      appCode = 'INTERNAL';
      message = 'Internal server error';
    } else {
      // Errors tRPC raises itself (unparsable body, unsupported content type, unknown procedure, …).
      appCode = TRPC_APP_CODES[error.code] ?? 'VALIDATION_FAILED';
    }
    const data: ErrorData = {
      code: shape.data.code,
      httpStatus: shape.data.httpStatus,
      ...(shape.data.path ? { path: shape.data.path } : {}),
      appCode,
      ...(fieldErrors ? { fieldErrors } : {}),
      ...(retryAfter !== undefined ? { retryAfter } : {}),
      ...(details ? { details } : {}),
      ...(ctx?.requestId ? { requestId: ctx.requestId } : {}),
    };
    return { code: shape.code, message, data };
  },
});

export const router = t.router;
export const middleware = t.middleware;
export const baseProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
export const mergeRouters = t.mergeRouters;
