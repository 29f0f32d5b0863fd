import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';
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
const bindingsStore = new AsyncLocalStorage<LogBindings>();

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
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'secret',
        '*.secret',
        'req.headers.authorization',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
    },
    ...(opts.pretty && !opts.stream
      ? { transport: { target: 'pino-pretty', options: { colorize: true } } }
      : {}),
  };
  return opts.stream ? pino(options, opts.stream) : pino(options);
}
