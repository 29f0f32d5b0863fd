import { fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.ts';
import { buildApp, type KeelApp } from '../../app.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { createInnerContext } from '../../trpc/context.ts';
import { baseProcedure, router } from '../../trpc/init.ts';
import { mapErrors } from '../../trpc/middleware/errors.ts';
import { sendError } from './error-reply.ts';

// ADR 0004: one shaper. The same AppError answered by a tRPC procedure and by a plain HTTP route must reach the
// client with the same status and the same `error` body (tRPC's is inside superjson's envelope).

const METRICS_TOKEN = 'metrics-token-for-error-shape-0123456789';
let env: TestEnv;
let side: FastifyInstance;
let app: KeelApp;

const conflict = () =>
  new AppError('CONFLICT', 'The document changed meanwhile', {
    fieldErrors: { title: ['was edited by someone else'] },
    retryAfter: 3,
    latest: { version: 2 },
  });
const thrown: Record<string, () => AppError> = {
  conflict,
  suspended: () => new AppError('TENANT_SUSPENDED', 'This organization is suspended'),
  limited: () => new AppError('RATE_LIMITED', 'Too many requests, retry in 5 s', { retryAfter: 5 }),
};

beforeAll(async () => {
  env = await createTestEnv({ METRICS_TOKEN });
  // A tRPC router built on Keel's own `t` (its error formatter) and mapErrors, beside plain routes throwing the same
  // errors into an error handler that uses the HTTP shaper.
  side = Fastify();
  side.setErrorHandler((err, req, reply) => sendError(req, reply, err));
  const procedures = Object.fromEntries(
    Object.entries(thrown).map(([name, make]) => [
      name,
      baseProcedure.use(mapErrors).query(() => {
        throw make();
      }),
    ]),
  );
  await side.register(fastifyTRPCPlugin, {
    prefix: '/trpc',
    trpcOptions: {
      router: router(procedures),
      createContext: ({ req }: { req: { id: string } }) =>
        createInnerContext(env.deps, { requestId: req.id }),
    },
  });
  for (const [name, make] of Object.entries(thrown)) {
    side.get(`/http/${name}`, () => {
      throw make();
    });
  }
  side.get('/http/boom', () => {
    throw new Error('connect ECONNREFUSED 10.0.0.7:5432 (secret internals)');
  });
  app = await buildApp(env.deps);
});
afterAll(async () => {
  await side?.close();
  await app?.close();
  await env?.close();
});

interface Body {
  error: { json?: unknown; message?: string; code?: number; data?: Record<string, unknown> };
}

/** The error shape of a body, without what names the call (request id, procedure path). */
function shapeOf(body: Body) {
  const error = (body.error.json ?? body.error) as {
    message: string;
    code: number;
    data: Record<string, unknown>;
  };
  const { requestId, path: _path, ...data } = error.data;
  expect(typeof requestId).toBe('string');
  return { ...error, data };
}

describe('one error shaper for tRPC and HTTP routes', () => {
  it.each(Object.keys(thrown))('%s: same status and body from a procedure and from a route', async (name) => {
    const viaTrpc = await side.inject({ method: 'GET', url: `/trpc/${name}` });
    const viaHttp = await side.inject({ method: 'GET', url: `/http/${name}` });
    expect(viaHttp.statusCode).toBe(viaTrpc.statusCode);
    expect(viaHttp.statusCode).toBeGreaterThanOrEqual(400);
    const trpcShape = shapeOf(viaTrpc.json<Body>());
    expect(shapeOf(viaHttp.json<Body>())).toEqual(trpcShape);
    expect(trpcShape.data.appCode).toBe(thrown[name]!().code);
  });

  it('keeps field errors, retryAfter and details, and sends Retry-After on a route', async () => {
    const res = await side.inject({ method: 'GET', url: '/http/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['retry-after']).toBe('3');
    expect(shapeOf(res.json<Body>())).toEqual({
      code: -32009,
      message: 'The document changed meanwhile',
      data: {
        code: 'CONFLICT',
        httpStatus: 409,
        appCode: 'CONFLICT',
        fieldErrors: { title: ['was edited by someone else'] },
        retryAfter: 3,
        details: { latest: { version: 2 } },
      },
    });
  });

  it('an unexpected error on a route is a bare INTERNAL, like one in a procedure', async () => {
    const res = await side.inject({ method: 'GET', url: '/http/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('10.0.0.7');
    expect(shapeOf(res.json<Body>())).toEqual({
      code: -32603,
      message: 'Internal server error',
      data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, appCode: 'INTERNAL' },
    });
  });

  it("Keel's own routes: a missing token on /metrics is the AUTH_REQUIRED a procedure gives", async () => {
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    const me = await app.inject({ method: 'GET', url: '/trpc/auth.me' });
    expect([metrics.statusCode, me.statusCode]).toEqual([401, 401]);
    const [m, t] = [shapeOf(metrics.json<Body>()), shapeOf(me.json<Body>())];
    expect({ code: m.code, data: m.data }).toEqual({ code: t.code, data: t.data });
    expect(m.data.appCode).toBe('AUTH_REQUIRED');
  });

  it("Keel's own routes: an unknown address is NOT_FOUND in the same shape, even without a built SPA", async () => {
    const res = await app.inject({ method: 'GET', url: '/no/such/thing.json' });
    expect(res.statusCode).toBe(404);
    expect(shapeOf(res.json<Body>())).toEqual({
      code: -32004,
      message: 'Not found',
      data: { code: 'NOT_FOUND', httpStatus: 404, appCode: 'NOT_FOUND' },
    });
  });
});
