import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, stdSerializers, type Logger } from 'pino';
import { requestScoped } from '../async/detached.ts';
import { scrub } from '../errors/scrub.ts';
import { currentTraceId } from '../tracing/propagation.ts';

export type { Logger };

export interface LogBindings {
  requestId?: string;
  tenantId?: string;
  userId?: string;
  /** Set by jobs from their envelope so their lines join the dispatching request's trace even without tracing. */
  traceId?: string;
}

// Bindings that follow the async call chain, so every log line written while serving a request or running a
// job carries its request id, tenant id and user id without each caller passing them along.
const bindingsStore = requestScoped(new AsyncLocalStorage<LogBindings>());

export function withLogBindings<T>(bindings: LogBindings, fn: () => T): T {
  return bindingsStore.run({ ...bindingsStore.getStore(), ...bindings }, fn);
}

/** Adds to the current bindings when there are some (an HTTP request's), else runs fn with new ones. */
export function ensureLogBindings<T>(bindings: LogBindings, fn: () => T): T {
  const store = bindingsStore.getStore();
  if (!store) return bindingsStore.run({ ...bindings }, fn);
  Object.assign(store, bindings);
  return fn();
}

/** Runs fn with exactly this bindings object, so whoever holds it (the request) sees later additions. */
export function runWithLogBindings<T>(bindings: LogBindings, fn: () => T): T {
  return bindingsStore.run(bindings, fn);
}

export function setLogBindings(bindings: LogBindings): void {
  const store = bindingsStore.getStore();
  if (store) Object.assign(store, bindings);
}

/**
 * Fields that hold credentials, censored wherever Keel logs them: at the top level, one level down for the common
 * names, and request and response headers. (pino's redaction is by path; each `*.` path costs every line a walk of its
 * keys — about a microsecond each, measured — so only the common names get one. Errors are scrubbed whole, below.)
 */
const REDACTED = [
  ...['password', 'token', 'secret', 'sessionId', 'signature', 'authorization', 'cookie'],
  ...['*.password', '*.token', '*.secret'],
  // (No `req.headers.*`: the request serializer below keeps only method and path, before redaction runs.)
  ...['headers.authorization', 'headers.cookie', 'headers["set-cookie"]'].flatMap((p) => [p, `res.${p}`]),
];

/**
 * What a logged request says of itself: its method and path. Query strings carry credentials (signed file URLs,
 * reset and invitation links, tRPC GET inputs), so they are never logged.
 */
function serializeRequest(req: { method?: string; url?: string }) {
  return { method: req.method, url: req.url?.split('?')[0] };
}

/**
 * Errors are logged with their message, stack and properties, which Keel does not write itself (a driver's message
 * may quote a URL, a header or a connection string): credentials inside them are removed as for Sentry.
 */
function serializeError(err: Error): unknown {
  return scrub(stdSerializers.err(err));
}

export function createLogger(opts: {
  level: string;
  pretty: boolean;
  stream?: NodeJS.WritableStream;
}): Logger {
  const options = {
    level: opts.level,
    base: { pid: process.pid },
    mixin: () => {
      const traceId = currentTraceId();
      return traceId ? { ...bindingsStore.getStore(), traceId } : { ...bindingsStore.getStore() };
    },
    redact: { paths: REDACTED, censor: '[redacted]' },
    serializers: { err: serializeError, req: serializeRequest },
    ...(opts.pretty && !opts.stream
      ? { transport: { target: 'pino-pretty', options: { colorize: true } } }
      : {}),
  };
  return opts.stream ? pino(options, opts.stream) : pino(options);
}
