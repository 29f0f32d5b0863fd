import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { contextWithSpan } from './propagation.ts';

/** Probes and scrapes: traced, they would outnumber the requests. */
const UNTRACED_PATHS = new Set(['/livez', '/readyz', '/metrics']);

const spans = new WeakMap<FastifyRequest, Span>();

/**
 * One SERVER span per HTTP request, started in Fastify's first hook and made the active context for everything after
 * it (hooks, tRPC, MikroORM/pg, ioredis) when the sampler records it; an unrecorded request carries only its ids
 * (`contextWithSpan`), so the database and Redis instrumentations skip it. Named by route template
 * (`POST /trpc/:path`), with the tRPC procedure as `rpc.method`. This replaces the http module instrumentation's
 * incoming side (ADR 0060): that one patches the server's `request` event, binds every listener of each request and
 * response emitter and computes a dozen attributes per request — a third of the tracing cost of a tenant query — for
 * a span that knows less (no route). Outgoing HTTP calls keep the http instrumentation.
 *
 * Must be registered after the hook that opens the request's log bindings: the trace id goes into them, so the
 * request's log line (written after the response, outside this context) carries it too.
 */
export function traceRequests(app: FastifyInstance): void {
  const tracer = trace.getTracer('keel-http');
  app.addHook('onRequest', (req, _reply, done) => {
    const path = req.url.split('?')[0] ?? '';
    // A WebSocket upgrade lives as long as its connection: its messages are not one request.
    if (UNTRACED_PATHS.has(path) || req.headers.upgrade) return done();
    const parent = propagation.extract(context.active(), req.headers);
    const route = req.routeOptions.url ?? 'unmatched';
    const span = tracer.startSpan(
      `${req.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'http.route': route,
          'url.path': path,
          ...(route === '/trpc/:path' ? { 'rpc.method': (req.params as { path?: string }).path ?? '' } : {}),
        },
      },
      parent,
    );
    spans.set(req, span);
    if (req.keel) req.keel.bindings.traceId = span.spanContext().traceId;
    context.with(contextWithSpan(parent, span), done);
  });
  app.addHook('onError', (req, _reply, err, done) => {
    spans.get(req)?.recordException(err);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const span = spans.get(req);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      spans.delete(req);
    }
    done();
  });
}
