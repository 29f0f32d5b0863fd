import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp, type KeelApp } from '../../app.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';

// Issue 17 finding 6: the per-IP sign-in limit (5 a minute) must count the client's real address, whatever the
// client writes into X-Forwarded-For itself. A proxy appends the address it saw to the header; what comes before
// that entry is the client's own text.

let env: TestEnv | undefined;
let app: KeelApp | undefined;
afterEach(async () => {
  await app?.close();
  await env?.close();
  app = env = undefined;
});

async function start(trustProxy: string) {
  env = await createTestEnv({ TRUST_PROXY: trustProxy }, { realLimits: true });
  app = await buildApp(env.deps);
  return app;
}

/** A sign-in with a wrong password, as it reaches Keel from `peer` with `forwardedFor`; answers the HTTP status. */
async function attempt(server: KeelApp, peer: string, forwardedFor?: string) {
  const res = await server.inject({
    method: 'POST',
    url: '/trpc/auth.signIn',
    remoteAddress: peer,
    headers: {
      'content-type': 'application/json',
      ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
    },
    payload: JSON.stringify({
      json: { email: `nobody-${randomBytes(4).toString('hex')}@example.test`, password: 'wrong password' },
    }),
  });
  return res.statusCode;
}

const spoofed = () => `198.18.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

describe('TRUST_PROXY and the per-IP sign-in limit', () => {
  it('with one trusted hop, a new client-written address on every attempt still hits the limit at the 6th', async () => {
    const server = await start('1');
    const proxy = '10.0.0.2';
    const client = '203.0.113.9';
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await attempt(server, proxy, `${spoofed()}, ${client}`));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    // The limit is the client's, not the proxy's: another client behind the same proxy signs in as usual.
    expect(await attempt(server, proxy, `${spoofed()}, 203.0.113.10`)).toBe(401);
  });

  it('with listed proxies, the first address not in the list counts; a direct caller is its socket address', async () => {
    const server = await start('10.0.0.0/8');
    const client = '203.0.113.20';
    const statuses: number[] = [];
    // Two proxies of the list in a row: the client is the entry before them.
    for (let i = 0; i < 6; i++)
      statuses.push(await attempt(server, '10.0.0.3', `${spoofed()}, ${client}, 10.1.2.3`));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);

    // A caller outside the list is not a proxy: its header is ignored and its own address is limited.
    const direct = '198.51.100.7';
    const directStatuses: number[] = [];
    for (let i = 0; i < 6; i++) directStatuses.push(await attempt(server, direct, spoofed()));
    expect(directStatuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('without TRUST_PROXY the header is ignored', async () => {
    const server = await start('false');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await attempt(server, '203.0.113.30', spoofed()));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });
});
