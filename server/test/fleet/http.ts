import { NODE_HEADER } from './haproxy.ts';

// tRPC over plain HTTP (no batching, superjson's `{ json }` envelope), so a test sees each answer's status and the
// node HAProxy sent it to, and a failed connection as a result rather than an exception.

export interface CallResult<T = unknown> {
  ok: boolean;
  /** HTTP status; 0 when no answer came (connection reset or refused). */
  status: number;
  /** The node that answered (HAProxy's header), null without one. */
  node: string | null;
  data?: T;
  appCode?: string;
  error?: string;
}

export type Auth = { token: string } | { cookie: string; origin: string } | null;

export const authHeaders = (auth: Auth): Record<string, string> =>
  !auth
    ? {}
    : 'token' in auth
      ? { authorization: `Bearer ${auth.token}` }
      : { cookie: auth.cookie, origin: auth.origin };

export async function call<T = unknown>(
  baseUrl: string,
  procedure: string,
  opts: {
    type?: 'query' | 'mutation';
    input?: unknown;
    auth?: Auth;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
): Promise<CallResult<T>> {
  const type = opts.type ?? 'query';
  const envelope = opts.input === undefined ? undefined : JSON.stringify({ json: opts.input });
  const url =
    `${baseUrl}/trpc/${procedure}` +
    (type === 'query' && envelope ? `?input=${encodeURIComponent(envelope)}` : '');
  try {
    const res = await fetch(url, {
      method: type === 'query' ? 'GET' : 'POST',
      headers: {
        ...authHeaders(opts.auth ?? null),
        ...(type === 'mutation' ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(type === 'mutation' ? { body: envelope ?? '{}' } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const node = res.headers.get(NODE_HEADER);
    const text = await res.text();
    let body: {
      result?: { data?: { json?: T } };
      error?: { json?: { message?: string; data?: { appCode?: string } } };
    };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return { ok: false, status: res.status, node, error: text.slice(0, 200) };
    }
    if (res.ok) return { ok: true, status: res.status, node, data: body.result?.data?.json as T };
    return {
      ok: false,
      status: res.status,
      node,
      ...(body.error?.json?.data?.appCode ? { appCode: body.error.json.data.appCode } : {}),
      error: body.error?.json?.message ?? text.slice(0, 200),
    };
  } catch (err) {
    return {
      ok: false,
      status: 0,
      node: null,
      error: err instanceof Error ? ((err.cause as Error)?.message ?? err.message) : String(err),
    };
  }
}

/** Signs in as the web app does (JSON body, the app's Origin) and returns the session cookie. */
export async function signIn(
  baseUrl: string,
  origin: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<{ cookie: string; node: string | null }> {
  const res = await fetch(`${baseUrl}/trpc/auth.signIn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin, ...headers },
    body: JSON.stringify({ json: { email, password } }),
  });
  const cookie = res.headers
    .getSetCookie()
    .find((c) => c.startsWith('keel_session='))
    ?.split(';')[0];
  if (!res.ok || !cookie) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return { cookie, node: res.headers.get(NODE_HEADER) };
}
