import { randomUUID } from 'node:crypto';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps } from '../deps.ts';
import type { RateLimitDecision } from '../platform/rate-limit/rate-limiter.ts';

export const SESSION_COOKIE = 'keel_session';

/** How the caller's credentials arrived; they are verified per procedure call, not here. */
export interface Credentials {
  bearer: string | null;
  sessionId: string | null;
}

/** Cookie writes the API may make; the HTTP adapter writes them to the reply, tests record them. */
export interface CookieJar {
  setSession(id: string, maxAgeSeconds: number): void;
  clearSession(): void;
}

/** The request-free part of the context: everything a procedure needs, buildable in a test without HTTP. */
export interface InnerContext {
  deps: AppDeps;
  requestId: string;
  transport: 'http' | 'ws';
  credentials: Credentials;
  ip: string;
  origin: string | null;
  /** `Sec-Fetch-Site`, when the browser sent it. */
  fetchSite: string | null;
  host: string | null;
  organizationHeader: string | null;
  cookies: CookieJar;
  /**
   * What the HTTP response should say about limits: the most restrictive rate-limit decision made while serving the
   * request (a batch shares it). The adapter turns it into X-RateLimit-* and Retry-After headers.
   */
  limits: { decision: RateLimitDecision | null };
}

export interface InnerContextOptions {
  requestId?: string;
  transport?: 'http' | 'ws';
  credentials?: Partial<Credentials>;
  ip?: string;
  origin?: string | null;
  fetchSite?: string | null;
  host?: string | null;
  organizationHeader?: string | null;
  cookies?: CookieJar;
}

const noCookies: CookieJar = { setSession() {}, clearSession() {} };

export function createInnerContext(deps: AppDeps, opts: InnerContextOptions = {}): InnerContext {
  return {
    deps,
    requestId: opts.requestId ?? randomUUID(),
    transport: opts.transport ?? 'http',
    credentials: { bearer: opts.credentials?.bearer ?? null, sessionId: opts.credentials?.sessionId ?? null },
    ip: opts.ip ?? '127.0.0.1',
    origin: opts.origin ?? null,
    fetchSite: opts.fetchSite ?? null,
    host: opts.host ?? null,
    organizationHeader: opts.organizationHeader ?? null,
    cookies: opts.cookies ?? noCookies,
    limits: { decision: null },
  };
}

function header(
  req: { headers: Record<string, string | string[] | undefined> },
  name: string,
): string | null {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

/** Whatever follows `Bearer `: a malformed credential must fail as an invalid token, not pass as anonymous. */
function bearerFrom(authorization: string | null): string | null {
  const m = authorization?.match(/^Bearer\s+(.+)$/i);
  return m?.[1]?.trim() || null;
}

export interface CookieCodec {
  parse(header: string): Record<string, string | undefined>;
  unsign(value: string): { valid: boolean; value: string | null };
}

function sessionIdFromCookie(cookieHeader: string | null, codec: CookieCodec): string | null {
  if (!cookieHeader) return null;
  const raw = codec.parse(cookieHeader)[SESSION_COOKIE];
  if (!raw) return null;
  const unsigned = codec.unsign(raw);
  return unsigned.valid ? unsigned.value : null;
}

export function fastifyCookieJar(reply: FastifyReply, secure: boolean): CookieJar {
  return {
    setSession(id, maxAgeSeconds) {
      reply.setCookie(SESSION_COOKIE, id, {
        httpOnly: true,
        sameSite: 'lax',
        secure,
        path: '/',
        signed: true,
        maxAge: maxAgeSeconds,
      });
    },
    clearSession() {
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
    },
  };
}

/** The adapter: turns a Fastify HTTP request or a WebSocket upgrade into an InnerContext. */
export function contextFactory(deps: AppDeps, codec: CookieCodec) {
  const secure = deps.config.appUrl.startsWith('https:');
  let wsConnections = 0;
  return ({ req, res, info }: CreateFastifyContextOptions): InnerContext => {
    // For WebSockets the adapter passes the raw upgrade request and the socket, not Fastify's objects.
    const isWs = !('setCookie' in res);
    const fastifyReq = isWs ? null : (req as FastifyRequest);
    const params = info.connectionParams as Record<string, unknown> | null;
    const paramToken = typeof params?.token === 'string' ? params.token : null;
    const paramOrg = typeof params?.organizationId === 'string' ? params.organizationId : null;
    return createInnerContext(deps, {
      requestId: fastifyReq ? fastifyReq.id : `ws-${process.pid}-${++wsConnections}`,
      transport: isWs ? 'ws' : 'http',
      credentials: {
        bearer: bearerFrom(header(req, 'authorization')) ?? paramToken,
        sessionId: sessionIdFromCookie(header(req, 'cookie'), codec),
      },
      ip: fastifyReq ? fastifyReq.ip : (req.socket.remoteAddress ?? 'unknown'),
      origin: header(req, 'origin'),
      fetchSite: header(req, 'sec-fetch-site'),
      host: header(req, 'host'),
      organizationHeader: header(req, 'x-organization-id') ?? paramOrg,
      cookies: isWs ? noCookies : fastifyCookieJar(res as FastifyReply, secure),
    });
  };
}
