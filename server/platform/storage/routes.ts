import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type AppErrorCode } from '../../../shared/errors.ts';
import type { Config } from '../../config/env.ts';
import { sendError } from '../http/error-reply.ts';
import type { Logger } from '../logger/logger.ts';
import { LocalStorage } from './local.ts';
import { decodeKey, UrlSigner, type SignedParams } from './signing.ts';
import {
  assertKey,
  contentDisposition,
  contentTypeFor,
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  type Storage,
} from './storage.ts';

export interface StorageRouteDeps {
  config: Config;
  storage: Storage;
  logger: Logger;
}

interface SignedQuery {
  expires?: string;
  name?: string;
  max?: string;
  signature?: string;
}

function refuse(req: FastifyRequest, reply: FastifyReply, code: AppErrorCode, message: string) {
  return sendError(req, reply, new AppError(code, message));
}

/** Decodes and verifies a signed URL; answers the refusal itself and returns null when it does not hold. */
function verified(
  signer: UrlSigner,
  op: SignedParams['op'],
  req: FastifyRequest<{ Params: { token: string }; Querystring: SignedQuery }>,
  reply: FastifyReply,
): SignedParams | null {
  const key = decodeKey(req.params.token);
  const q = req.query;
  const expires = Number(q.expires);
  const max = q.max === undefined ? undefined : Number(q.max);
  if (
    !key ||
    !q.signature ||
    !Number.isSafeInteger(expires) ||
    (max !== undefined && !Number.isSafeInteger(max))
  ) {
    void refuse(req, reply, 'LINK_INVALID', 'This link is not valid');
    return null;
  }
  const params: SignedParams = {
    op,
    key,
    expires,
    ...(q.name ? { name: q.name } : {}),
    ...(max !== undefined ? { max } : {}),
  };
  const check = signer.verify(params, q.signature);
  if (!check.ok) {
    void (check.reason === 'expired'
      ? refuse(req, reply, 'LINK_EXPIRED', 'This link has expired')
      : refuse(req, reply, 'LINK_INVALID', 'This link is not valid'));
    return null;
  }
  try {
    assertKey(key);
  } catch {
    void refuse(req, reply, 'VALIDATION_FAILED', 'Invalid file key');
    return null;
  }
  return params;
}

/**
 * Keel-served file URLs: `GET /files/<key>` downloads from the local driver (S3 serves its own presigned URLs), and
 * `PUT /uploads/<key>` streams an upload into whichever driver is configured, enforcing the signed size limit while
 * the bytes arrive. Both need a valid, unexpired signature over exactly these parameters; nothing else is asked,
 * because the URL itself is the capability (handed out by an authenticated, tenant-checked procedure).
 */
export async function registerStorageRoutes(app: FastifyInstance, deps: StorageRouteDeps): Promise<void> {
  const signer = new UrlSigner(deps.config.storage.urlSecret);
  const { storage } = deps;

  await app.register(async (scope) => {
    // The body is streamed by the handler, whatever its type; Fastify must not buffer or parse it.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

    scope.get<{ Params: { token: string }; Querystring: SignedQuery }>(
      '/files/:token',
      async (req, reply) => {
        if (!(storage instanceof LocalStorage)) return refuse(req, reply, 'NOT_FOUND', 'Not found');
        const params = verified(signer, 'get', req, reply);
        if (!params) return reply;
        try {
          const body = await storage.get(params.key);
          const info = await storage.head(params.key);
          return reply
            .header('content-type', contentTypeFor(params.key))
            .header('content-disposition', contentDisposition(params.name))
            .header('cache-control', 'private, no-store')
            .header('content-security-policy', "default-src 'none'; sandbox")
            .header('content-length', info?.bytes)
            .send(body);
        } catch (err) {
          if (err instanceof ObjectNotFoundError)
            return refuse(req, reply, 'NOT_FOUND', 'This file no longer exists');
          throw err;
        }
      },
    );

    scope.put<{ Params: { token: string }; Querystring: SignedQuery }>(
      '/uploads/:token',
      async (req, reply) => {
        const params = verified(signer, 'put', req, reply);
        if (!params) return reply;
        const max = params.max ?? 0;
        const declared = Number(req.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > max) {
          return refuse(req, reply, 'PAYLOAD_TOO_LARGE', `The file is larger than the ${max} bytes allowed`);
        }
        try {
          const stored = await storage.put(params.key, req.raw, { maxBytes: max, overwrite: false });
          return reply
            .code(201)
            .header('cache-control', 'no-store')
            .send({ key: stored.key, bytes: stored.bytes });
        } catch (err) {
          // Whatever the client still sends is discarded; the connection closes after the answer.
          reply.header('connection', 'close');
          if (err instanceof ObjectTooLargeError) {
            return refuse(
              req,
              reply,
              'PAYLOAD_TOO_LARGE',
              `The file is larger than the ${max} bytes allowed`,
            );
          }
          if (err instanceof ObjectExistsError)
            return refuse(req, reply, 'CONFLICT', 'This upload link was already used');
          if (err instanceof InvalidKeyError)
            return refuse(req, reply, 'VALIDATION_FAILED', 'Invalid file key');
          if (req.raw.aborted || req.raw.destroyed) {
            deps.logger.info({ key: params.key }, 'upload aborted by the client');
            return reply;
          }
          throw err;
        }
      },
    );
  });
}
