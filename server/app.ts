import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { fastifyTRPCPlugin, type FastifyTRPCPluginOptions } from '@trpc/server/adapters/fastify';
import type { WebSocket } from 'ws';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyRequest,
} from 'fastify';
import { AppError } from '../shared/errors.ts';
import type { AppDeps } from './deps.ts';
import { registerStripeWebhookRoute } from './modules/billing/billing.webhook.ts';
import { redactReport, runHealthChecks } from './platform/health/health.ts';
import { runWithLogBindings } from './platform/logger/logger.ts';
import { registerMetricsRoute, registerRequestMetrics } from './platform/metrics/http-plugin.ts';
import { runWithRequestStats } from './platform/metrics/request-stats.ts';
import { sendError } from './platform/http/error-reply.ts';
import { securityHeaders } from './platform/http/security-headers.ts';
import { registerStorageRoutes } from './platform/storage/routes.ts';
import { traceRequests } from './platform/tracing/fastify.ts';
import { contextFactory, SESSION_COOKIE } from './trpc/context.ts';
import { logInternalError } from './trpc/middleware/errors.ts';
import { appRouter, type AppRouter } from './trpc/router.ts';

export const MAX_WS_PAYLOAD = 64 * 1024;
export const MAX_BODY = 1024 * 1024;

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the HTTP + WebSocket server. Tests import it and call `inject` or `listen`. */
export async function buildApp(deps: AppDeps) {
  const { config } = deps;
  const securityHeaderSet = securityHeaders(config.appUrl);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY,
    trustProxy: trustProxyOption(config.trustProxy),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { maxParamLength: 5000 },
    // Requests that arrive while closing get a tRPC-shaped 503 from the shutdown hook below, which clients parse.
    return503OnClosing: false,
  });

  // Every request runs inside its own log bindings (request, tenant, user ids) and query counters; the request
  // object keeps references so the response hook can read what the middleware learned.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    // CSP, no framing, no referrer, nosniff (API bodies echo user text; a browser must never sniff one into HTML).
    reply.headers(securityHeaderSet);
    const keel = {
      bindings: { requestId: req.id },
      stats: { queries: 0, queryMs: 0 },
      startedAt: Date.now(),
    };
    req.keel = keel;
    runWithLogBindings(keel.bindings, () => runWithRequestStats(keel.stats, done));
  });
  app.addHook('onResponse', (req, reply, done) => {
    const level = reply.statusCode >= 500 ? 'error' : 'info';
    req.log[level](
      {
        method: req.method,
        url: req.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        queries: req.keel?.stats.queries,
        ...req.keel?.bindings,
      },
      'request',
    );
    done();
  });
  if (config.tracing.enabled) traceRequests(app);
  if (config.metricsEnabled) {
    registerRequestMetrics(app, deps.observability, new Set(Object.keys(appRouter._def.procedures)));
    deps.observability.console.start();
  }

  // Errors thrown by a route, and those Fastify raises before one runs (oversized or malformed bodies), are shaped
  // like tRPC's; only the unexpected ones are logged.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const sent = sendError(req, reply, err);
    if (reply.statusCode >= 500) {
      req.log.error({ err }, 'unhandled error');
      deps.observability.recordException(err);
    }
    return sent;
  });
  await app.register(fastifyCookie, { secret: config.sessionSecret });
  let shuttingDown = false;
  await app.register(fastifyWebsocket, {
    options: { maxPayload: MAX_WS_PAYLOAD, perMessageDeflate: false },
    // Graceful shutdown: clients are asked to reconnect (to another process) before their sockets close; upgrades
    // and requests arriving meanwhile are refused by the hook below. Resolves once every WebSocket is gone.
    preClose: async () => {
      shuttingDown = true;
      await deps.realtime.shutdown();
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });
  // While shutting down: a WebSocket upgrade (a client reconnecting) or an HTTP call on a kept-alive connection gets
  // a tRPC-shaped 503 and its connection is closed, so it retries elsewhere and nothing keeps the server open.
  // (@fastify/websocket's onResponse hook destroys the socket of a refused upgrade.)
  app.addHook('onRequest', (req, reply, done) => {
    if (!shuttingDown) return done();
    reply.header('connection', 'close');
    void sendError(
      req,
      reply,
      new AppError('SERVICE_UNAVAILABLE', 'This server is shutting down, try again', { retryAfter: 1 }),
    );
  });
  // Realtime limits (message rate, slow consumers) take each socket before tRPC's handler sees it.
  app.websocketServer.on('connection', (socket: WebSocket) => deps.realtime.connections.attach(socket));
  app.addHook('onListen', async () => deps.realtime.startMetrics());

  // Browsers send cookies with WebSocket upgrades from any site: refuse foreign origins before the upgrade.
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') return;
    const origin = req.headers.origin;
    if (origin && !config.allowedOrigins.includes(origin)) {
      req.log.warn({ origin }, 'refused websocket from foreign origin');
      return sendError(req, reply, new AppError('ORIGIN_REFUSED', 'Origin not allowed'));
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (!(payload instanceof Response) || !req.url.startsWith('/trpc')) return payload;
    // tRPC answers a request it cannot route (an unsupported content type, say) with a JSON body but a text/plain
    // type; clients that check the type before parsing would not see the typed error.
    if (payload.headers.get('content-type')?.startsWith('text/plain')) {
      payload.headers.set('content-type', 'application/json');
    }
    // tRPC's adapter answers with a fetch Response, whose body Fastify pipes to the socket as a stream: chunked
    // encoding, a write per chunk and one more for the terminator. A JSON answer is one string tRPC already holds, so
    // it goes out as a string instead: one write, with a Content-Length. Streams stay streams: SSE has its own type,
    // and a JSON-lines batch (`trpc-accept: application/jsonl`) is typed application/json but says it is chunked
    // (ADR 0008).
    const type = payload.headers.get('content-type')?.split(';')[0]?.trim();
    if (payload.body && type === 'application/json' && !payload.headers.has('transfer-encoding')) {
      reply.code(payload.status);
      for (const [name, value] of payload.headers) reply.header(name, value);
      return payload.text();
    }
    return payload;
  });

  const cookieCodec = {
    parse: (header: string) => app.parseCookie(header),
    unsign: (value: string) => app.unsignCookie(value),
  };
  const makeContext = contextFactory(deps, cookieCodec);
  await app.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    useWSS: true,
    trpcOptions: {
      router: appRouter,
      createContext: (opts) => deps.realtime.connections.bind(makeContext(opts), opts.res),
      keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
      allowMethodOverride: false,
      maxBatchSize: 20,
      onError: (opts) => logInternalError(deps, opts),
      // Rate-limit headers on every tRPC HTTP response that passed a limit (and Retry-After on a refusal).
      responseMeta: ({ ctx }) => {
        const d = ctx?.limits.decision;
        if (!d) return {};
        return {
          headers: {
            'x-ratelimit-limit': String(d.limit),
            'x-ratelimit-remaining': String(d.remaining),
            'x-ratelimit-reset': String(Math.ceil(d.resetAt / 1000)),
            ...(d.allowed ? {} : { 'retry-after': String(d.retryAfter) }),
          },
        };
      },
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>);

  registerMetricsRoute(app, deps.observability, config.metricsToken);
  await registerStorageRoutes(app, deps);
  registerStripeWebhookRoute(app, deps);

  app.get('/livez', async (_req, reply) =>
    reply.type('application/health+json').send({ status: 'pass', version: VERSION }),
  );

  // Anonymous callers learn each check's status; staff and the metrics token also get values and error text.
  const mayReadHealthDetails = async (req: FastifyRequest): Promise<boolean> => {
    const auth = req.headers.authorization;
    if (config.metricsToken && auth === `Bearer ${config.metricsToken}`) return true;
    const raw = req.cookies[SESSION_COOKIE];
    const sessionId = raw ? app.unsignCookie(raw) : null;
    if (!sessionId?.valid || !sessionId.value) return false;
    // The same policy as the operations console: a staff member's signed-in session.
    const principal = await deps.access
      .principalOf({ bearer: null, sessionId: sessionId.value })
      .catch(() => null);
    return principal?.user.staff === true;
  };
  app.get('/readyz', async (req, reply) => {
    const [report, details] = await Promise.all([
      runHealthChecks(deps.healthChecks, { version: VERSION }),
      mayReadHealthDetails(req),
    ]);
    return reply
      .code(report.status === 'fail' ? 503 : 200)
      .type('application/health+json')
      .header('cache-control', 'no-store')
      .send(details ? report : redactReport(report));
  });

  // Unknown addresses are a NOT_FOUND error, except the SPA's pages when the SPA is built: those get index.html.
  const webRoot = path.resolve(config.webDist);
  const spa = existsSync(path.join(webRoot, 'index.html'))
    ? readFileSync(path.join(webRoot, 'index.html'))
    : null;
  if (spa) await app.register(fastifyStatic, { root: webRoot, wildcard: false, index: false });
  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0] ?? '/';
    // Pages of the SPA are served index.html whatever their last segment looks like: a flag key such as
    // `checkout.v2` in /ops/flags/checkout.v2 is not a file. Elsewhere a name with an extension is a missing file.
    const page = /^\/(app|ops)(\/|$)/.test(url) || !path.extname(url);
    if (spa && req.method === 'GET' && !url.startsWith('/trpc') && page) {
      return reply.type('text/html').header('cache-control', 'no-cache').send(spa);
    }
    return sendError(req, reply, new AppError('NOT_FOUND', 'Not found'));
  });
  return app;
}
export type KeelApp = Awaited<ReturnType<typeof buildApp>>;

/**
 * Fastify 5 ignores a bare hop count (it trusts nobody then, so every client would share its proxy's address):
 * TRUST_PROXY=N becomes a function trusting the N nearest hops, whatever their address. That is only safe when
 * nothing but the proxies can reach Keel's port, which is why docs/operations.md prefers listed addresses.
 */
function trustProxyOption(trust: false | number | string[]) {
  return typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust;
}
