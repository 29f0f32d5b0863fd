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
const DECODE_FAILED = 'The request could not be decoded (malformed JSON or superjson)';

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
    const query = await get('invitations.preview', '{"json":{"token":"x","toString":2}}');
    expect(query.status, query.text).toBe(400);
    expect(trpcErrorOf(query)?.data.fieldErrors).toMatchObject({ toString: ['is not an accepted field'] });

    const cookie = await signIn(org.owner.email);
    const nested = await post('organization.update', '{"json":{"settings":{"valueOf":1,"locale":"fr"}}}', {
      cookie,
    });
    expect(nested.status, nested.text).toBe(400);
    expect(trpcErrorOf(nested)?.data.fieldErrors).toMatchObject({
      'settings.valueOf': ['is not an accepted field'],
    });
    // Reserved keys are refused wherever they are, before any schema reads the input.
    const reserved = await post('organization.update', '{"json":{"settings":{"constructor":2}}}', { cookie });
    expect(reserved.status, reserved.text).toBe(400);
    expect(trpcErrorOf(reserved)?.data.fieldErrors).toEqual({
      settings: ['"constructor" is not an accepted field'],
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

describe('malformed transport input is a typed 400 with a fixed message (issue 17, finding 12)', () => {
  // Each is refused before any procedure runs, by JSON or superjson decoding; the runtime's or the library's own
  // message ("Cannot destructure property…", "Maximum call stack size exceeded", a class name, a URL) is not
  // the client's business.
  const undecodable = [
    'null',
    '{"json":{"a":"x"},"meta":{"values":"x"}}',
    '{"json":{"a":1},"meta":{"values":{"a":["custom","x"]}}}',
    '{"json":{"a":1},"meta":{"values":{"a":[["class","X"]]}}}',
    '{"json":{"a":1},"meta":{"values":{"a":["map"]}}}',
    '{"json":[1],"meta":{"values":{"0":["set"]}}}',
    '{"json":{"a":"x"},"meta":{"values":{"a":["bigint"]}}}',
    '{"json":{"a":"x"},"meta":{"values":{"a":["regexp"]}}}',
    '{"json":{"a":"x"},"meta":{"values":{"__proto__.x":["Date"]}}}',
    '{"json":{"a":"x"},"meta":{"values":{"a.constructor":["Date"]}}}',
  ];
  const internal =
    /destructure|call stack|iterable|BigInt|RegExp|class|github|__proto__|constructor|TypeError/i;

  for (const body of undecodable) {
    it(`${body} as a body and as a query input`, async () => {
      const responses = [
        await post('auth.signIn', body),
        await get('invitations.preview', body),
        await post('auth.signIn,auth.signIn?batch=1', `{"0":${body},"1":${body}}`),
      ];
      for (const res of responses) {
        expect(res.status, res.text).toBe(400);
        const error = trpcErrorOf(res);
        expect(error?.data).toMatchObject({ code: 'BAD_REQUEST', appCode: 'VALIDATION_FAILED' });
        expect(error?.message).toBe(DECODE_FAILED);
        expect(res.text).not.toMatch(internal);
      }
    });
  }

  it('malformed JSON gets the same fixed message', async () => {
    for (const res of [
      await post('auth.signIn', '{"json": {"email": "x@y.z", '),
      await get('invitations.preview', '{not json'),
    ]) {
      expect(res.status, res.text).toBe(400);
      expect(trpcErrorOf(res)).toMatchObject({
        message: DECODE_FAILED,
        data: { appCode: 'VALIDATION_FAILED' },
      });
    }
  });

  it("tRPC's own refusals keep their fixed messages", async () => {
    const unknown = await get('auth.nope', '{"json":{}}');
    expect(unknown.status).toBe(404);
    expect(trpcErrorOf(unknown)?.message).toMatch(/No procedure found/);
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
    // The flags table is global and the run's database is shared by every int file: the poisoned row goes as soon
    // as it has been read (left in place, it turned every later ops.flags.list of the run into this 500).
    const cookie = await signIn((await createStaff(env.deps)).email);
    const before = logs.lines.length;
    const res = await get('ops.flags.list', '{"json":null}', { cookie }).finally(() =>
      withDbScope(env.deps.em, undefined, (em) => em.nativeDelete(FeatureFlag, { key: 'legacy-variant' })),
    );
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
