import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogBindings {
  requestId?: string;
  tenantId?: string;
  userId?: string;
}

// Bindings that follow the async call chain, so every log line written while serving a request or running a
// job carries its request id, tenant id and user id without each caller passing them along.
const bindingsStore = new AsyncLocalStorage<LogBindings>();

export function withLogBindings<T>(bindings: LogBindings, fn: () => T): T {
  return bindingsStore.run({ ...bindingsStore.getStore(), ...bindings }, fn);
}

export function setLogBindings(bindings: LogBindings): void {
  const store = bindingsStore.getStore();
  if (store) Object.assign(store, bindings);
}

export function createLogger(opts: { level: string; pretty: boolean }): Logger {
  return pino({
    level: opts.level,
    base: { pid: process.pid },
    mixin: () => ({ ...bindingsStore.getStore() }),
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
    ...(opts.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}
