// How errors reach clients over real HTTP: typed, never an internal message, and every 500 logged with its cause.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../platform/db/context.ts';
import { FeatureFlag } from '../modules/flags/flag.entity.ts';
import { createOrg, createStaff, PASSWORD, type TestOrg } from '../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../test/harness.ts';
import { LogCapture, sendRaw, trpcErrorOf } from '../test/http.ts';

let env: TestEnv;
let server: RunningServer;
let org: TestOrg;
const logs = new LogCapture();
const ORIGIN = 'http://localhost:3000';

beforeAll(async () => {
  env = await createTestEnv({ LOG_LEVEL: 'warn' }, { logStream: logs });
  server = await startServer(env.deps);
  org = await createOrg(env.deps, 'Errors Co');
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  sendRaw(server.url, 'POST', `/trpc/${path}`, { body, headers: { origin: ORIGIN, ...headers } });
const get = (path: string, input: string, headers: Record<string, string> = {}) =>
  sendRaw(server.url, 'GET', `/trpc/${path}?input=${encodeURIComponent(input)}`, { headers });

async function signIn(email: string): Promise<string> {
  const res = await post('auth.signIn', JSON.stringify({ json: { email, password: PASSWORD } }));
  expect(res.status).toBe(200);
  const cookie = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('keel_session='));
  return cookie!.split(';')[0]!;
}

describe('object keys that exist on Object.prototype (issue 17, finding 3)', () => {
  const signInWith = (key: string) =>
    `{"json":{"email":"${org.owner.email}","password":"${PASSWORD}","${key}":{"x":1}}}`;

  for (const key of ['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__']) {
    it(`an unknown field "${key}" is a 400 naming it`, async () => {
      const res = await post('auth.signIn', signInWith(key));
      expect(res.status, res.text).toBe(400);
      expect(trpcErrorOf(res)?.data).toMatchObject({
        appCode: 'VALIDATION_FAILED',
        fieldErrors: { [key]: ['is not an accepted field'] },
      });
    });
  }

  for (const key of ['constructor', 'prototype']) {
    it(`an unknown field "${key}" (which superjson will not serialize as a key) is a 400 naming it`, async () => {
      const res = await post('auth.signIn', signInWith(key));
      expect(res.status, res.text).toBe(400);
      expect(trpcErrorOf(res)?.data).toMatchObject({
        appCode: 'VALIDATION_FAILED',
        fieldErrors: { _: [`"${key}" is not an accepted field`] },
      });
    });
  }

  it('in a query string, nested, and in a batch', async () => {
    const query = await get('invitations.preview', '{"json":{"token":"x","constructor":1,"toString":2}}');
    expect(query.status, query.text).toBe(400);
    expect(trpcErrorOf(query)?.data.fieldErrors).toMatchObject({ toString: ['is not an accepted field'] });

    const cookie = await signIn(org.owner.email);
    const nested = await post(
      'organization.update',
      '{"json":{"settings":{"valueOf":1,"constructor":2,"locale":"fr"}}}',
      { cookie },
    );
    expect(nested.status, nested.text).toBe(400);
    expect(trpcErrorOf(nested)?.data.fieldErrors).toMatchObject({
      'settings.valueOf': ['is not an accepted field'],
      'settings.constructor': ['is not an accepted field'],
    });

    const batch = await post(
      'auth.signIn,auth.signIn?batch=1',
      `{"0":{"json":{"hasOwnProperty":1}},"1":${signInWith('toString')}}`,
    );
    expect(batch.status, batch.text).toBe(400);
    expect(Array.isArray(batch.json) && batch.json.length).toBe(2);
  });

  it('"__proto__" is dropped by the transport: no 500, and nothing is polluted', async () => {
    const res = await post('auth.signIn', signInWith('__proto__'));
    expect(res.status).toBeLessThan(500);
    const polluted = await post(
      'auth.signIn',
      `{"json":{"email":"${org.owner.email}","password":"${PASSWORD}","__proto__":{"polluted":true}}}`,
    );
    expect(polluted.status).toBeLessThan(500);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('every 500 is logged with its cause', () => {
  it('a response that cannot be serialized (raised after the procedure returned) is logged, not anonymous', async () => {
    // A flag stored with a variant whose value superjson refuses to write (e.g. from before such input was
    // refused): listing it fails outside every middleware.
    await withDbScope(env.deps.em, undefined, async (em) => {
      em.create(FeatureFlag, {
        key: 'legacy-variant',
        description: 'stored before keys were checked',
        kind: 'variant',
        variants: { a: { constructor: 1 }, b: 2 },
        defaultVariant: 'b',
        onVariant: 'a',
        owner: 'test',
      });
      await em.flush();
    });
    const cookie = await signIn((await createStaff(env.deps)).email);
    const before = logs.lines.length;
    const res = await get('ops.flags.list', '{"json":null}', { cookie });
    expect(res.status).toBe(500);
    const error = trpcErrorOf(res)!;
    expect(error).toMatchObject({ message: 'Internal server error', data: { appCode: 'INTERNAL' } });
    expect(res.text).not.toMatch(/constructor|prototype pollution/i);
    const logged = logs.lines.slice(before).filter((l) => l.msg === 'request failed');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: 50,
      url: '/trpc/ops.flags.list',
      requestId: res.headers['x-request-id'],
      err: { message: expect.stringContaining('constructor') as unknown },
    });
  });
});
