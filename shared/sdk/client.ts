import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  splitLink,
  wsLink,
  type HTTPHeaders,
  type TRPCClient,
} from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../../server/trpc/router.ts';
import { resubscribeLink } from './resubscribe.ts';

/**
 * A WebSocket class: the global one (Node ≥ 22, browsers) or the `ws` package's (`import { WebSocket } from
 * 'ws'`), described by the part tRPC uses so that both, and subclasses of either, fit.
 */
export interface WebSocketImplementation {
  new (url: string, protocols?: string | string[]): object;
  readonly CONNECTING: number;
  readonly OPEN: number;
  readonly CLOSING: number;
  readonly CLOSED: number;
}

type FetchImplementation = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface KeelClientOptions {
  /** Where Keel runs, e.g. `https://keel.example.com` (the API lives under `/trpc`). */
  url: string;
  /** An API token secret (`keel_…`). Without one the calls are anonymous (or use `signIn` for a session). */
  token?: string;
  /** The organization to act in; a token is bound to its own, so this only needs setting for sessions. */
  organizationId?: string;
  /** WebSocket class for subscriptions. Defaults to the global one, which Node has from version 22. */
  WebSocket?: WebSocketImplementation;
  /** fetch for queries and mutations. Defaults to the global one. */
  fetch?: FetchImplementation;
  /** Extra headers sent with every HTTP call. */
  headers?: Record<string, string>;
}

export type KeelClient = TRPCClient<AppRouter> & {
  /** Ends the subscription WebSocket (if one was opened). The client must not be used afterwards. */
  close(): Promise<void>;
};

/**
 * The socket opens with the first subscription and closes this long after the last one ends: a script that only
 * queries never opens it, and one that forgets `close()` still exits.
 */
const WS_IDLE_CLOSE_MS = 10_000;

/**
 * Exponential back-off with jitter: after a server restart every client would otherwise reconnect in the same
 * instant. Waits 0 for the first retry, then a random time in [half, all] of 1 s, 2 s, 4 s … capped at 30 s.
 */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  if (attempt === 0) return 0;
  const ceiling = Math.min(1000 * 2 ** (attempt - 1), 30_000);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function trpcUrls(url: string): { http: string; ws: string } {
  const base = new URL(url);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new TypeError(`Keel url must start with http:// or https://, got ${base.protocol}//`);
  }
  const path = `${base.pathname.replace(/\/+$/, '')}/trpc`;
  const http = new URL(path, base).toString();
  const ws = new URL(path, base);
  ws.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  return { http, ws: ws.toString() };
}

/** What `signIn` hands to the shared builder on top of the public options. */
export interface ClientInternals {
  /** Runs after the WebSocket is closed (e.g. signing the session out). */
  onClose?: () => Promise<void>;
}

export function buildClient(opts: KeelClientOptions, internals: ClientInternals = {}): KeelClient {
  const urls = trpcUrls(opts.url);
  const WebSocketImpl: WebSocketImplementation | undefined = opts.WebSocket ?? globalThis.WebSocket;
  if (!WebSocketImpl) {
    throw new TypeError('No WebSocket implementation: use Node ≥ 22 or pass `WebSocket` from the ws package');
  }
  const connectionParams: Record<string, string> = {};
  if (opts.token) connectionParams.token = opts.token;
  if (opts.organizationId) connectionParams.organizationId = opts.organizationId;

  const wsClient = createWSClient({
    url: urls.ws,
    // Sent as the first message after the socket opens, so the token never appears in a URL or a proxy log.
    ...(Object.keys(connectionParams).length ? { connectionParams } : {}),
    // tRPC's type is the DOM constructor; the `ws` class speaks the same event API that tRPC uses.
    WebSocket: WebSocketImpl as unknown as typeof globalThis.WebSocket,
    lazy: { enabled: true, closeMs: WS_IDLE_CLOSE_MS },
    keepAlive: { enabled: true, intervalMs: 15_000, pongTimeoutMs: 5_000 },
    retryDelayMs: (attempt) => reconnectDelayMs(attempt),
  });

  const headers: HTTPHeaders = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.organizationId) headers['x-organization-id'] = opts.organizationId;

  const trpc = createTRPCClient<AppRouter>({
    links: [
      // A subscription ended by a recoverable error (5xx) is opened again from its last event; a final one reaches
      // the caller. (Lost connections are tRPC's: it reconnects and resubscribes with lastEventId itself.)
      resubscribeLink({ delayMs: (attempt) => reconnectDelayMs(attempt + 1) }),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: wsClient, transformer: superjson }),
        false: httpBatchLink({
          url: urls.http,
          transformer: superjson,
          headers,
          // The server refuses batches of more than 20 calls and very long URLs; stay under both.
          maxItems: 20,
          maxURLLength: 4000,
          ...(opts.fetch ? { fetch: opts.fetch } : {}),
        }),
      }),
    ],
  });

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      await wsClient.close();
      await internals.onClose?.();
    })());

  // The tRPC client is a proxy in which every property is a procedure path, so `close` is answered here first.
  return new Proxy(trpc, {
    get(target, key, receiver) {
      if (key === 'close') return close;
      return Reflect.get(target, key, receiver) as unknown;
    },
  }) as KeelClient;
}

/**
 * A typed client of the Keel API. With `token`, every call (and the subscription socket) acts as that token's
 * user in the token's organization; `signIn` gives the same client for an email and password.
 */
export function createKeelClient(opts: KeelClientOptions): KeelClient {
  return buildClient(opts);
}
