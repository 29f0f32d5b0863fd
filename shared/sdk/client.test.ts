import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { createKeelClient, reconnectDelayMs, trpcUrls } from './client.ts';
import { isKeelError } from './index.ts';
import { CookieJar } from './sign-in.ts';

describe('SDK helpers', () => {
  it('derives the HTTP and WebSocket endpoints from the url', () => {
    expect(trpcUrls('http://localhost:3000')).toEqual({
      http: 'http://localhost:3000/trpc',
      ws: 'ws://localhost:3000/trpc',
    });
    expect(trpcUrls('https://example.com/keel/')).toEqual({
      http: 'https://example.com/keel/trpc',
      ws: 'wss://example.com/keel/trpc',
    });
    expect(() => trpcUrls('ftp://example.com')).toThrow(/http/);
  });

  it('spreads reconnects: no wait first, then jittered exponential delays capped at 30 s', () => {
    expect(reconnectDelayMs(0)).toBe(0);
    expect(reconnectDelayMs(1, () => 0)).toBe(500);
    expect(reconnectDelayMs(1, () => 1)).toBe(1000);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(3000);
    expect(reconnectDelayMs(20, () => 1)).toBe(30_000);
  });

  it('the cookie jar keeps set cookies and drops cleared ones', () => {
    const jar = new CookieJar();
    jar.store(['keel_session=abc.def; Max-Age=1209600; Path=/; HttpOnly; SameSite=Lax', 'other=1']);
    expect(jar.header()).toBe('keel_session=abc.def; other=1');
    jar.store(['keel_session=; Max-Age=0; Path=/']);
    expect(jar.has('keel_session')).toBe(false);
    jar.store(['other=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
    expect(jar.header()).toBe('');
  });
});

describe('the client object', () => {
  it('can be awaited and closed (twice) without ever connecting', async () => {
    const client = createKeelClient({ url: 'http://127.0.0.1:9' });
    // A promise resolving to the client must not mistake it for a thenable.
    expect(await Promise.resolve(client)).toBe(client);
    expect(typeof client.auth.me.query).toBe('function');
    await client.close();
    await client.close();
  });

  it('refuses a url that is not http(s)', () => {
    expect(() => createKeelClient({ url: 'ws://127.0.0.1:9' })).toThrow(/http/);
  });
});

describe('isKeelError', () => {
  const keelError = TRPCClientError.from({
    error: {
      message: 'Sign in or send an API token',
      code: -32001,
      data: { code: 'UNAUTHORIZED', httpStatus: 401, appCode: 'AUTH_REQUIRED' },
    },
  });

  it('recognises errors answered by Keel, optionally by app code', () => {
    expect(isKeelError(keelError)).toBe(true);
    expect(isKeelError(keelError, 'AUTH_REQUIRED')).toBe(true);
    expect(isKeelError(keelError, 'TOKEN_REVOKED')).toBe(false);
  });

  it('is false for anything else', () => {
    expect(isKeelError(new Error('Sign in or send an API token'))).toBe(false);
    expect(isKeelError({ data: { appCode: 'AUTH_REQUIRED' } }, 'AUTH_REQUIRED')).toBe(false);
    expect(isKeelError(null)).toBe(false);
  });
});
