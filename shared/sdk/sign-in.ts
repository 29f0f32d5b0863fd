import { buildClient, type KeelClient, type KeelClientOptions } from './client.ts';

/** Name of the server's session cookie (server/trpc/context.ts). */
const SESSION_COOKIE = 'keel_session';

export interface SignInOptions extends Omit<KeelClientOptions, 'token' | 'WebSocket'> {
  email: string;
  password: string;
}

/**
 * The cookies the server set, replayed on every later call. One client talks to one server, so domain and path
 * scoping do not apply; an expired or cleared cookie (sign-out) is dropped.
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookieHeaders: readonly string[]): void {
    for (const header of setCookieHeaders) {
      const [pair = '', ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k = '', v = ''] = a.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.cookies.has(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Signs in with an email and password and returns a client as typed as a token one, acting as that user.
 *
 * Why a session cookie and not a token minted on the fly: a minted token would be a long-lived secret that
 * outlives a crashed script, shows up in the token list and the activity feed, and is bound to one organization.
 * The session is what the web app uses: the same abilities, organization switching works, and `close()` signs
 * it out. The cookie is replayed on HTTP calls (through fetch) and on the WebSocket upgrade (through the `ws`
 * package, because the global WebSocket cannot set headers).
 *
 * No Origin header is sent. The server's Origin check exists because browsers attach cookies to requests that
 * other sites start; it refuses a foreign Origin and accepts a request that names none, which only non-browser
 * programs make. Claiming the url's origin would get mutations refused wherever the address a script uses
 * (an internal host name, a load balancer) differs from the server's public APP_URL.
 */
export async function signIn(opts: SignInOptions): Promise<KeelClient> {
  const { email, password, ...clientOptions } = opts;
  const { WebSocket: Ws } = await import('ws');
  const jar = new CookieJar();
  const baseFetch = opts.fetch ?? globalThis.fetch;

  const fetchWithCookies = async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const cookie = jar.header();
    if (cookie) headers.set('cookie', cookie);
    const response = await baseFetch(input, { ...init, headers });
    jar.store(response.headers.getSetCookie());
    return response;
  };

  // Each (re)connection reads the jar afresh, so a socket opened after sign-in carries the session.
  class SessionWebSocket extends Ws {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { headers: { cookie: jar.header() } });
    }
  }

  let signedIn = false;
  const client: KeelClient = buildClient(
    { ...clientOptions, fetch: fetchWithCookies, WebSocket: SessionWebSocket },
    {
      onClose: async () => {
        // Best effort: a session left behind expires on its own (SESSION_TTL_HOURS).
        if (signedIn && jar.has(SESSION_COOKIE)) await client.auth.signOut.mutate().catch(() => undefined);
      },
    },
  );
  try {
    await client.auth.signIn.mutate({ email, password });
  } catch (err) {
    await client.close();
    throw err;
  }
  if (!jar.has(SESSION_COOKIE)) {
    await client.close();
    throw new Error('Signed in, but the server set no session cookie');
  }
  signedIn = true;
  return client;
}
