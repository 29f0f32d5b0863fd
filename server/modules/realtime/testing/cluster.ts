import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  type TRPCClient,
} from '@trpc/client';
import superjson from 'superjson';
import { WebSocket as NodeWebSocket } from 'ws';
import type { Config } from '../../../config/env.ts';
import type { RealtimeLimits } from '../../../platform/realtime/connections.ts';
import type { AppRouter } from '../../../trpc/router.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');

export interface ServerProcess {
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** Graceful stop (SIGTERM): clients are asked to reconnect. */
  stop(): Promise<void>;
  /** A crash (SIGKILL): no goodbyes. */
  kill(): Promise<void>;
}

/** Starts a Keel API process on its own port, against the same database, Redis and key prefix as `config`. */
export async function startProcess(
  config: Config,
  limits: Partial<RealtimeLimits> = {},
  extraEnv: Record<string, string> = {},
): Promise<ServerProcess> {
  const env = {
    NODE_ENV: config.env,
    DATABASE_URL: config.databaseUrl ?? '',
    REDIS_URL: config.redisUrl ?? '',
    KEY_PREFIX: config.keyPrefix,
    APP_URL: config.appUrl,
    SESSION_SECRET: config.sessionSecret,
    LOG_LEVEL: 'silent',
    DB_POOL_MAX: '4',
    ...extraEnv,
  };
  const child = spawn(
    path.join(root, 'node_modules/.bin/tsx'),
    [path.join(here, 'server-process.ts'), JSON.stringify({ env, limits })],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/LISTENING (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server process exited with ${code} before listening`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/trpc`,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface ClientOptions {
  /** An API token, or a browser session: its `keel_session=…` cookie, sent with the app's Origin as browsers do. */
  auth: { token: string } | { cookie: string; origin: string };
  organizationId?: string;
  /** Where subscriptions connect; a function is asked again on every reconnect. */
  wsUrl: string | (() => string);
}

export interface TestClient {
  trpc: TRPCClient<AppRouter>;
  close(): Promise<void>;
}

/** A typed client of one process: queries and mutations over HTTP, subscriptions over WebSocket. */
export function clientOf(httpUrl: string, opts: ClientOptions): TestClient {
  const { wsUrl, auth } = opts;
  const browser = 'cookie' in auth ? { cookie: auth.cookie, origin: auth.origin } : null;
  const ws = createWSClient({
    url: typeof wsUrl === 'string' ? wsUrl : () => wsUrl(),
    connectionParams: {
      ...('token' in auth ? { token: auth.token } : {}),
      ...(opts.organizationId ? { organizationId: opts.organizationId } : {}),
    },
    retryDelayMs: () => 50,
    ...(browser ? { WebSocket: upgradeWithHeaders(browser) } : {}),
  });
  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: ws, transformer: superjson }),
        false: httpBatchLink({
          url: `${httpUrl}/trpc`,
          transformer: superjson,
          headers: browser ?? { authorization: `Bearer ${'token' in auth ? auth.token : ''}` },
        }),
      }),
    ],
  });
  return { trpc, close: () => ws.close() };
}

/** A WebSocket class whose upgrade requests carry these headers (a browser sends its cookies and Origin). */
function upgradeWithHeaders(headers: Record<string, string>): typeof globalThis.WebSocket {
  class WithHeaders extends NodeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers });
    }
  }
  return WithHeaders as unknown as typeof globalThis.WebSocket;
}

/** Signs in through a process's HTTP API as the web app does, and returns the session cookie (`keel_session=…`). */
export async function signInCookie(
  http: Pick<ServerProcess, 'url'>,
  origin: string,
  email: string,
  password: string,
): Promise<string> {
  const res = await fetch(`${http.url}/trpc/auth.signIn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ json: { email, password } }),
  });
  const cookie = res.headers
    .getSetCookie()
    .find((c) => c.startsWith('keel_session='))
    ?.split(';')[0];
  if (!res.ok || !cookie) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return cookie;
}

export interface Collector<T> {
  items: T[];
  errors: unknown[];
  started: boolean;
  completed: boolean;
  /** Resolves once `done(items)` holds; rejects with what was collected if it does not within the time. */
  until(done: (items: T[]) => boolean, what?: string, timeoutMs?: number): Promise<T[]>;
  untilError(timeoutMs?: number): Promise<unknown>;
  stop(): void;
}

export interface Handlers<T> {
  onStarted: () => void;
  onData: (value: T) => void;
  onError: (err: unknown) => void;
  onComplete: () => void;
}

/** Subscribes and records what arrives, for assertions (typed as `T`: the test states what it expects). */
export function collect<T>(subscribe: (h: Handlers<unknown>) => { unsubscribe(): void }): Collector<T> {
  const c: Collector<T> = {
    items: [],
    errors: [],
    started: false,
    completed: false,
    async until(done, what = 'condition', timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(c.items)) {
        if (c.errors.length)
          throw new Error(`subscription failed waiting for ${what}: ${String(c.errors[0])}`);
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(c.items).slice(0, 2000)}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return c.items;
    },
    async untilError(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!c.errors.length) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for an error; got ${c.items.length} items`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return c.errors[0];
    },
    stop: () => sub.unsubscribe(),
  };
  const sub = subscribe({
    onStarted: () => void (c.started = true),
    onData: (v) => void c.items.push(v as T),
    onError: (e) => void c.errors.push(e),
    onComplete: () => void (c.completed = true),
  });
  return c;
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
