import type { FastifyReply, FastifyRequest } from 'fastify';
import { shapeError } from '../errors/shape.ts';

/**
 * Answers an HTTP request outside tRPC with the shaped error (`shapeError`): the status and body tRPC would give the
 * same failure. Under /trpc (a body Fastify refused before tRPC saw it, a call during shutdown) the body is in
 * superjson's envelope, so the SDK and the web client read it as the typed error they expect from a procedure.
 */
export function sendError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const shape = shapeError(err, { requestId: req.id });
  if (shape.data.retryAfter !== undefined) reply.header('retry-after', shape.data.retryAfter);
  return reply
    .code(shape.data.httpStatus)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(req.url.startsWith('/trpc') ? { error: { json: shape } } : { error: shape });
}
