import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { AppError } from '../../../shared/errors.ts';
import { sendError } from '../http/error-reply.ts';
import type { LogBindings } from '../logger/logger.ts';
import type { Observability } from './observability.ts';
import type { RequestStats } from './request-stats.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Per-request bindings and counters, shared with the async-local stores the request runs in. */
    keel?: { bindings: LogBindings; stats: RequestStats; startedAt: number };
  }
}

/**
 * The label a request is counted under: the route template, or the tRPC procedure when it is a known one.
 * Raw paths and unknown procedure names never become labels (each would be a new time series).
 */
export function routeLabel(req: FastifyRequest, procedures: ReadonlySet<string>): string {
  const template = req.routeOptions.url;
  if (!template) return 'unmatched';
  if (template === '/trpc/:path') {
    const path = (req.params as { path?: string }).path ?? '';
    if (path.includes(',')) return 'trpc:batch';
    return procedures.has(path) ? `trpc:${path}` : 'trpc:unknown';
  }
  if (template === '/trpc' && req.headers.upgrade) return 'trpc:websocket';
  return template;
}

export function registerRequestMetrics(
  app: FastifyInstance,
  obs: Observability,
  procedures: ReadonlySet<string>,
) {
  app.addHook('onResponse', (req, reply, done) => {
    const k = req.keel;
    obs.recordRequest({
      method: req.method,
      route: routeLabel(req, procedures),
      status: reply.statusCode,
      ms: reply.elapsedTime,
      requestId: req.id,
      organizationId: k?.bindings.tenantId,
      userId: k?.bindings.userId,
    });
    done();
  });
}

const tokenMatches = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** `/metrics` on the main port behind METRICS_TOKEN; nothing is served there without a token. */
export function registerMetricsRoute(app: FastifyInstance, obs: Observability, token: string | undefined) {
  if (!token) return;
  app.get('/metrics', async (req, reply) => {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!tokenMatches(given, token)) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(req, reply, new AppError('AUTH_REQUIRED', 'Metrics token required'));
    }
    return reply.type(obs.prom.contentType).send(await obs.prom.exposition());
  });
}

/** A separate listener for Prometheus on a private port (METRICS_PORT). */
export async function startMetricsServer(obs: Observability, host: string, port: number) {
  const server = Fastify({ logger: false });
  server.get('/metrics', async (_req, reply) =>
    reply.type(obs.prom.contentType).send(await obs.prom.exposition()),
  );
  await server.listen({ host, port });
  return server;
}
