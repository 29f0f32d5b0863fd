import { WebSocket as WsWebSocket, type RawData } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeelClient, isKeelError, signIn, type KeelClient } from '../shared/sdk/index.ts';
import { ApiToken } from './modules/auth/api-token.entity.ts';
import { confirmationToken } from './modules/auth/testing/registration.ts';
import { User } from './modules/auth/user.entity.ts';
import { Membership } from './modules/tenancy/membership.entity.ts';
import { Organization } from './modules/tenancy/organization.entity.ts';
import { withDbScope } from './platform/db/context.ts';
import {
  addMember,
  callerAs,
  createOrg,
  createStaff,
  PASSWORD,
  tokenFor,
  type TestOrg,
  type TestUser,
} from './test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from './test/harness.ts';
import { sendRaw, type RawResponse } from './test/http.ts';

// Hostile input over real HTTP and WebSocket connections. Every response body is kept and checked at the end for
// stack traces and internal details.

let env: TestEnv;
let server: RunningServer;
let a: TestOrg;
let b: TestOrg;
let memberA: TestUser;
let staff: TestUser;
let ownerCookie: string;
let memberCookie: string;
const APP_ORIGIN = 'http://localhost:3000';
const FOREIGN_ORIGIN = 'https://evil.example';

interface Res extends Omit<RawResponse, 'json'> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted field by field
  json: any;
}

const bodies: { what: string; status: number; text: string }[] = [];

/** sendRaw to the test server; every body is kept for the final leak check. */
async function send(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Res> {
  const res = await sendRaw(server.url, method, path, opts);
  bodies.push({ what: `${method} ${path}`, status: res.status, text: res.text });
  // Non-JSON bodies read as null, so the assertions that read `json` fail on them.
  return { ...res, json: res.json ?? null };
}

const mutation = (path: string, input: unknown, headers: Record<string, string> = {}) =>
  send('POST', `/trpc/${path}`, { headers, body: JSON.stringify({ json: input }) });

const query = (path: string, input?: unknown, headers: Record<string, string> = {}) =>
  send(
    'GET',
    `/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`,
    { headers },
  );

/** The error of a tRPC response (superjson envelope), or fails the test. */
function errorOf(res: Res): { message: string; code: number; data: Record<string, unknown> } {
  const error = res.json?.error?.json;
  expect(error, `expected a tRPC error, got ${res.status} ${res.text.slice(0, 300)}`).toBeDefined();
  return error;
}

const dataOf = (res: Res) => res.json?.result?.data?.json;

async function signInCookie(email: string): Promise<string> {
  const res = await mutation('auth.signIn', { email, password: PASSWORD });
  expect(res.status).toBe(200);
  const setCookie = res.headers['set-cookie']?.find((c) => c.startsWith('keel_session='));
  expect(setCookie).toBeDefined();
  return setCookie!.split(';')[0]!;
}

beforeAll(async () => {
  env = await createTestEnv();
  server = await startServer(env.deps);
  a = await createOrg(env.deps, 'Alpha Works');
  b = await createOrg(env.deps, 'Bravo Secret Labs');
  memberA = await addMember(env.deps, a.id, 'member');
  staff = await createStaff(env.deps);
  ownerCookie = await signInCookie(a.owner.email);
  memberCookie = await signInCookie(memberA.email);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

describe('malformed and invalid input', () => {
  it('malformed JSON in a mutation body is a 400 parse error', async () => {
    const res = await send('POST', '/trpc/auth.signIn', { body: '{"json": {"email": "x@y.z", ' });
    expect(res.status).toBe(400);
    expect(errorOf(res).data).toMatchObject({ httpStatus: 400, appCode: 'VALIDATION_FAILED' });
  });

  it('malformed JSON in a query string is a 400 parse error', async () => {
    const res = await send('GET', '/trpc/activity.recent?input=%7Bnot-json', {
      headers: { cookie: ownerCookie },
    });
    expect(res.status).toBe(400);
    expect(errorOf(res).data).toMatchObject({ appCode: 'VALIDATION_FAILED' });
  });

  it('a body that is not JSON at all is refused by content type, as JSON', async () => {
    const res = await send('POST', '/trpc/auth.signIn', {
      headers: { 'content-type': 'text/plain' },
      body: 'email=a@b.c&password=x',
    });
    expect(res.status).toBe(415);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(errorOf(res).data).toMatchObject({ httpStatus: 415, appCode: 'VALIDATION_FAILED' });
  });

  it('wrong types get a field error per field', async () => {
    const res = await mutation('auth.signIn', { email: 42, password: ['hunter2'] });
    expect(res.status).toBe(400);
    const { data, message } = errorOf(res);
    expect(message).toBe('Invalid input');
    expect(data.appCode).toBe('VALIDATION_FAILED');
    expect(Object.keys(data.fieldErrors as object).sort()).toEqual(['email', 'password']);
  });

  it('a missing input object and a non-object input are refused', async () => {
    const res = await mutation('auth.signIn', undefined);
    expect(res.status).toBe(400);
    const list = await mutation('auth.signIn', ['a', 'b']);
    expect(list.status).toBe(400);
    expect(errorOf(list).data.appCode).toBe('VALIDATION_FAILED');
  });

  it('oversized strings are refused with the limit named, and nothing is written', async () => {
    const email = `long-${Date.now()}@example.test`;
    const res = await mutation('auth.register', {
      email,
      password: 'a long enough password',
      name: 'N'.repeat(10_000),
      organizationName: 'O'.repeat(500),
    });
    expect(res.status).toBe(400);
    const fieldErrors = errorOf(res).data.fieldErrors as Record<string, string[]>;
    expect(fieldErrors.name).toEqual(['must be at most 120 characters']);
    expect(fieldErrors.organizationName).toEqual(['must be at most 120 characters']);
    expect(await env.deps.em.fork().count(User, { email })).toBe(0);
  });

  it('unknown fields are refused and named', async () => {
    const res = await mutation('auth.signIn', { email: a.owner.email, password: PASSWORD, staff: true });
    expect(res.status).toBe(400);
    expect(errorOf(res).data.fieldErrors).toEqual({ staff: ['is not an accepted field'] });
    const nested = await mutation(
      'organization.update',
      { settings: { timezone: 'UTC', plan: 'enterprise' } },
      { cookie: ownerCookie, origin: APP_ORIGIN },
    );
    expect(nested.status).toBe(400);
    expect(errorOf(nested).data.fieldErrors).toEqual({ 'settings.plan': ['is not an accepted field'] });
  });

  it('control characters in text are refused', async () => {
    const res = await mutation(
      'organization.update',
      { name: 'Null\u0000Byte' },
      { cookie: ownerCookie, origin: APP_ORIGIN },
    );
    expect(res.status).toBe(400);
    expect(errorOf(res).data.fieldErrors).toEqual({ name: ['must not contain control characters'] });
  });

  it('an unknown procedure is a 404 and a batch over the limit is refused', async () => {
    const missing = await query('nothing.here');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).data.appCode).toBe('NOT_FOUND');
    const paths = Array.from({ length: 25 }, () => 'auth.me').join(',');
    const batch = await send('GET', `/trpc/${paths}?batch=1`, { headers: { cookie: ownerCookie } });
    expect(batch.status).toBe(400);
  });
});

describe('tRPC answers on the wire', () => {
  it('a JSON answer is sent whole with a Content-Length and its headers; a JSON-lines batch stays a stream', async () => {
    const me = await query('auth.me', undefined, { cookie: ownerCookie });
    expect(me.status).toBe(200);
    expect(me.headers['content-type']).toMatch(/^application\/json/);
    expect(me.headers['content-length']).toBe(String(Buffer.byteLength(me.text)));
    expect(me.headers['transfer-encoding']).toBeUndefined();
    // Headers tRPC put on its Response (responseMeta's rate-limit headers) still reach the client.
    expect(me.headers['x-ratelimit-limit']).toBeDefined();
    const missing = await query('nothing.here');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-length']).toBe(String(Buffer.byteLength(missing.text)));
    const lines = await send('GET', '/trpc/auth.me,auth.me?batch=1', {
      headers: { cookie: ownerCookie, 'trpc-accept': 'application/jsonl' },
    });
    expect(lines.status).toBe(200);
    expect(lines.headers['transfer-encoding']).toBe('chunked');
    expect(lines.headers['content-length']).toBeUndefined();
  });
});

describe('SQL and HTML in text fields are stored and returned as data', () => {
  const html = '<script>alert("owned")</script><img src=x onerror=alert(1)>';
  const sql = "Robert'); DROP TABLE users; --";

  it('registering with them stores the literal text and returns it as JSON', async () => {
    const email = `payload-${Date.now()}@example.test`;
    const registered = await mutation('auth.register', {
      email,
      password: 'a long enough password',
      name: html,
      organizationName: sql,
    });
    expect(dataOf(registered)).toEqual({ status: 'check-your-email' });
    const res = await mutation('auth.confirmRegistration', {
      token: await confirmationToken(env.deps, email),
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const me = dataOf(res);
    expect(me.user.name).toBe(html);
    expect(me.organization.name).toBe(sql);
    expect(me.organization.slug).toBe('robert-drop-table-users');

    const cookie = res.headers['set-cookie']!.find((c) => c.startsWith('keel_session='))!.split(';')[0]!;
    const current = await query('organization.current', undefined, { cookie });
    expect(dataOf(current).name).toBe(sql);
    const members = await query('organization.members', undefined, { cookie });
    expect(dataOf(members)[0].name).toBe(html);

    const stored = await env.deps.em.fork().findOneOrFail(User, { email });
    expect(stored.name).toBe(html);
    // The table the payload names is still there, with everyone in it.
    expect(await env.deps.em.fork().count(User, {})).toBeGreaterThan(3);
  });

  it('a password made of SQL is just a wrong password', async () => {
    const res = await mutation('auth.signIn', { email: a.owner.email, password: "' OR '1'='1' --" });
    expect(res.status).toBe(401);
    expect(errorOf(res).data.appCode).toBe('INVALID_CREDENTIALS');
  });

  it('LIKE wildcards in a search are literal', async () => {
    const staffCookie = await signInCookie(staff.email);
    const all = await query('ops.organizations.list', { limit: 100 }, { cookie: staffCookie });
    expect(dataOf(all).total).toBeGreaterThan(2);
    const wildcard = await query(
      'ops.organizations.list',
      { query: "%' OR 1=1 --" },
      { cookie: staffCookie },
    );
    expect(wildcard.status).toBe(200);
    expect(dataOf(wildcard).total).toBe(0);
  });
});

describe('body size', () => {
  it('a body over 1 MiB is a 413 JSON error', async () => {
    const body = JSON.stringify({ json: { email: 'a@b.c', password: 'x'.repeat(1024 * 1024 + 10) } });
    const res = await send('POST', '/trpc/auth.signIn', { body });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(errorOf(res).data).toMatchObject({ httpStatus: 413, appCode: 'PAYLOAD_TOO_LARGE' });
  });

  it('a body under the limit with an oversized field is a 400 field error', async () => {
    const res = await mutation('auth.signIn', { email: a.owner.email, password: 'x'.repeat(900_000) });
    expect(res.status).toBe(400);
    expect(errorOf(res).data.fieldErrors).toHaveProperty('password');
  });

  it('the SDK sees the 413 as a typed error', async () => {
    const client = createKeelClient({ url: server.url });
    try {
      const err = await client.auth.signIn
        .mutate({ email: 'a@b.c', password: 'x'.repeat(2 * 1024 * 1024) })
        .catch((e: unknown) => e);
      expect(isKeelError(err, 'PAYLOAD_TOO_LARGE')).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('API tokens', () => {
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

  it('an expired token is 401 TOKEN_EXPIRED', async () => {
    const secret = await tokenFor(env.deps, a.id, a.owner);
    await withDbScope(env.deps.em, a.id, (em) =>
      em.nativeUpdate(
        ApiToken,
        { user: a.owner.id, expiresAt: null },
        { expiresAt: new Date(Date.now() - 1000) },
      ),
    );
    const res = await query('organization.current', undefined, bearer(secret));
    expect(res.status).toBe(401);
    expect(errorOf(res).data.appCode).toBe('TOKEN_EXPIRED');
  });

  it('a revoked token is 401 TOKEN_REVOKED', async () => {
    const secret = await tokenFor(env.deps, a.id, a.owner);
    const revoke = await mutation('tokens.revokeCurrent', undefined, bearer(secret));
    expect(revoke.status).toBe(200);
    const res = await query('organization.current', undefined, bearer(secret));
    expect(res.status).toBe(401);
    expect(errorOf(res).data.appCode).toBe('TOKEN_REVOKED');
  });

  it('forged, malformed and oversized tokens are 401 TOKEN_INVALID', async () => {
    const real = await tokenFor(env.deps, a.id, a.owner);
    const forged = [
      `keel_${'A'.repeat(43)}`,
      `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`,
      'not-a-keel-token',
      `keel_${'x'.repeat(5000)}`,
      "keel_' OR 1=1 --",
    ];
    for (const secret of forged) {
      const res = await query('organization.current', undefined, bearer(secret));
      expect(res.status, secret.slice(0, 40)).toBe(401);
      expect(errorOf(res).data.appCode).toBe('TOKEN_INVALID');
    }
  });

  it('a token without the needed ability is 403 ABILITY_MISSING and changes nothing', async () => {
    const secret = await tokenFor(env.deps, a.id, a.owner, ['read']);
    const update = await mutation('organization.update', { name: 'Hijacked' }, bearer(secret));
    expect(update.status).toBe(403);
    expect(errorOf(update).data.appCode).toBe('ABILITY_MISSING');
    const create = await mutation(
      'tokens.create',
      { name: 'escalate', abilities: ['billing:manage'] },
      bearer(secret),
    );
    expect(create.status).toBe(403);
    expect(errorOf(create).data.appCode).toBe('ABILITY_MISSING');
    expect((await env.deps.em.fork().findOneOrFail(Organization, a.id)).name).toBe('Alpha Works');
  });
});

describe('tenant resolution', () => {
  it('X-Organization-Id of an organization the user is not in is 403 NOT_A_MEMBER with none of its data', async () => {
    const res = await query('organization.current', undefined, {
      cookie: ownerCookie,
      'x-organization-id': b.id,
    });
    expect(res.status).toBe(403);
    expect(errorOf(res).data.appCode).toBe('NOT_A_MEMBER');
    const members = await query('organization.members', undefined, {
      cookie: ownerCookie,
      'x-organization-id': b.id,
    });
    expect(members.status).toBe(403);
    for (const body of [res.text, members.text]) {
      expect(body).not.toContain('Bravo');
      expect(body).not.toContain(b.owner.email);
      expect(body).not.toContain(b.id);
    }
  });

  it('an API token pointed at another organization is 403', async () => {
    const secret = await tokenFor(env.deps, a.id, a.owner);
    const res = await query('organization.current', undefined, {
      authorization: `Bearer ${secret}`,
      'x-organization-id': b.id,
    });
    expect(res.status).toBe(403);
    expect(res.text).not.toContain('Bravo');
  });

  it('a non-UUID X-Organization-Id is 400 with the header named', async () => {
    for (const value of ['not-a-uuid', "' OR 1=1 --", '00000000-0000-0000-0000']) {
      const res = await query('organization.current', undefined, {
        cookie: ownerCookie,
        'x-organization-id': value,
      });
      expect(res.status).toBe(400);
      expect(errorOf(res).data.fieldErrors).toHaveProperty('X-Organization-Id');
    }
  });

  it('a <slug>.<APP_DOMAIN> host selects that organization for its members only', async () => {
    const slugOf = async (id: string) => (await env.deps.em.fork().findOneOrFail(Organization, id)).slug;
    const [slugA, slugB] = [await slugOf(a.id), await slugOf(b.id)];
    const own = await query('organization.current', undefined, {
      cookie: ownerCookie,
      host: `${slugA}.localhost`,
    });
    expect(own.status).toBe(200);
    expect(dataOf(own).id).toBe(a.id);

    const foreign = await query('organization.current', undefined, {
      cookie: ownerCookie,
      host: `${slugB}.localhost:3000`,
    });
    expect(foreign.text).not.toContain('Bravo');

    const unknown = await query('organization.current', undefined, {
      cookie: ownerCookie,
      host: 'no-such-org.localhost',
    });
    // An outsider cannot tell an existing organization's address from a free one (issue 17 finding 11): the same
    // status, code and message, only the request id differs.
    expect([foreign.status, unknown.status]).toEqual([404, 404]);
    const withoutId = (r: typeof foreign) => ({
      ...errorOf(r),
      data: { ...errorOf(r).data, requestId: null },
    });
    expect(withoutId(foreign)).toEqual(withoutId(unknown));
    expect(errorOf(foreign).data.appCode).toBe('NOT_FOUND');

    // A member of both organizations gets B at B's address, A elsewhere.
    const both = await addMember(env.deps, a.id, 'member');
    await withDbScope(env.deps.em, b.id, async (em) => {
      em.create(Membership, { organization: b.id, user: both.id, role: 'member' });
      await em.flush();
    });
    const cookie = await signInCookie(both.email);
    const atB = await query('organization.current', undefined, { cookie, host: `${slugB}.localhost` });
    expect(dataOf(atB).id).toBe(b.id);
    const plain = await query('organization.current', undefined, { cookie, host: 'localhost:3000' });
    expect(dataOf(plain).id).toBe(a.id);
  });

  it('anonymous calls to tenant procedures are 401 AUTH_REQUIRED', async () => {
    const res = await query('organization.current');
    expect(res.status).toBe(401);
    expect(errorOf(res).data.appCode).toBe('AUTH_REQUIRED');
    const garbageCookie = await query('organization.current', undefined, {
      cookie: 'keel_session=forged.value',
    });
    expect(garbageCookie.status).toBe(401);
  });

  it('a member calling an ops procedure is 403 STAFF_ONLY; staff may', async () => {
    const res = await query('ops.overview', undefined, { cookie: memberCookie });
    expect(res.status).toBe(403);
    expect(errorOf(res).data.appCode).toBe('STAFF_ONLY');
    const ownerToken = await tokenFor(env.deps, a.id, a.owner);
    const viaToken = await query('ops.overview', undefined, { authorization: `Bearer ${ownerToken}` });
    expect(viaToken.status).toBe(403);
    const staffCookie = await signInCookie(staff.email);
    const ok = await query('ops.overview', undefined, { cookie: staffCookie });
    expect(ok.status).toBe(200);
    expect(dataOf(ok).organizations).toBeGreaterThan(1);
  });
});

describe('Origin checks on cookie mutations', () => {
  const countTokens = () => withDbScope(env.deps.em, a.id, (em) => em.count(ApiToken, { user: memberA.id }));

  it('a cookie mutation from a foreign Origin is 403 ORIGIN_REFUSED and writes nothing', async () => {
    const before = await countTokens();
    const res = await mutation(
      'tokens.create',
      { name: 'csrf', abilities: ['read'] },
      { cookie: memberCookie, origin: FOREIGN_ORIGIN },
    );
    expect(res.status).toBe(403);
    expect(errorOf(res).data.appCode).toBe('ORIGIN_REFUSED');
    const noOrigin = await mutation(
      'tokens.create',
      { name: 'csrf', abilities: ['read'] },
      { cookie: memberCookie, 'sec-fetch-site': 'cross-site' },
    );
    expect(noOrigin.status).toBe(403);
    expect(await countTokens()).toBe(before);
  });

  it('the same mutation from the app origin is accepted', async () => {
    const res = await mutation(
      'tokens.create',
      { name: 'from the app', abilities: ['read'] },
      { cookie: memberCookie, origin: APP_ORIGIN, 'sec-fetch-site': 'same-origin' },
    );
    expect(res.status).toBe(200);
    expect(dataOf(res).secret).toMatch(/^keel_/);
  });
});

/** A raw WebSocket to /trpc with the given headers; resolves once it opens or is refused. */
function openSocket(headers: Record<string, string>, query = '') {
  const ws = new WsWebSocket(`${server.wsUrl}${query}`, { headers });
  const messages: string[] = [];
  let everOpened = false;
  ws.on('message', (data: RawData) => messages.push(data.toString()));
  ws.on('open', () => (everOpened = true));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<{ ok: true } | { ok: false; status: number; body: string }>(
    (resolve, reject) => {
      ws.once('open', () => resolve({ ok: true }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          bodies.push({ what: 'ws upgrade', status: res.statusCode ?? 0, text: body });
          resolve({ ok: false, status: res.statusCode ?? 0, body });
          ws.terminate();
        });
      });
      ws.on('error', reject);
    },
  );
  return { ws, messages, opened, closed, everOpened: () => everOpened };
}

async function makeActivity(): Promise<void> {
  const caller = await callerAs(env.deps, a.owner);
  await caller.organization.update({ settings: { locale: 'de' } });
}

/**
 * Subscribes to the caller's organization activity through the SDK. Resolves once the server has started the
 * subscription, with a promise of the first event's action and who did it (or of the subscription's error). The
 * actor's name (factories name owners "Owner") matters: the signed-in user is a principal read outside the ORM, so the announcement must look it up.
 */
async function subscribe(client: KeelClient): Promise<{ first: Promise<string> }> {
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const first = new Promise<string>((resolve, reject) => {
    const sub = client.activity.onNew.subscribe(undefined, {
      onStarted,
      onData: ({ data }) => {
        sub.unsubscribe();
        resolve('action' in data ? `${data.action} by ${data.userName}` : data.type);
      },
      onError: (err) => {
        sub.unsubscribe();
        reject(err);
      },
    });
  });
  await Promise.race([started, first]);
  return { first };
}

describe('WebSocket', () => {
  it('an upgrade from a foreign Origin is refused, and no event ever reaches it', async () => {
    const refused = openSocket({ cookie: ownerCookie, origin: FOREIGN_ORIGIN });
    const outcome = await refused.opened;
    expect(outcome).toMatchObject({ ok: false, status: 403 });
    expect(outcome.ok ? '' : outcome.body).toContain('ORIGIN_REFUSED');

    // A subscriber from an allowed origin gets the next event; the refused socket has nothing.
    const allowed = await signIn({ url: server.url, email: a.owner.email, password: PASSWORD });
    try {
      const { first } = await subscribe(allowed);
      await makeActivity();
      expect(await first).toBe('organization.updated by Owner');
    } finally {
      await allowed.close();
    }
    expect(refused.messages).toEqual([]);
    expect(refused.everOpened()).toBe(false);
  });

  it('an upgrade from the app origin with a session cookie may subscribe', async () => {
    const sock = openSocket({ cookie: ownerCookie, origin: APP_ORIGIN });
    expect(await sock.opened).toEqual({ ok: true });
    sock.ws.send(JSON.stringify({ id: 1, method: 'query', params: { path: 'auth.me', input: {} } }));
    await new Promise<void>((resolve) => sock.ws.once('message', () => resolve()));
    const reply = JSON.parse(sock.messages[0]!);
    expect(reply.result.data.json.user.email).toBe(a.owner.email);
    sock.ws.close();
  });

  it('a frame over 64 KiB closes that connection with 1009; the server keeps serving others', async () => {
    const secret = await tokenFor(env.deps, a.id, a.owner);
    const big = openSocket({}, '?connectionParams=1');
    expect(await big.opened).toEqual({ ok: true });
    big.ws.send(JSON.stringify({ method: 'connectionParams', data: { token: secret } }));
    big.ws.send(
      JSON.stringify({
        id: 1,
        method: 'query',
        params: { path: 'auth.me', input: { x: 'y'.repeat(70 * 1024) } },
      }),
    );
    const { code } = await big.closed;
    expect(code).toBe(1009);

    const other = createKeelClient({ url: server.url, token: secret });
    try {
      const { first } = await subscribe(other);
      await makeActivity();
      expect(await first).toBe('organization.updated by Owner');
      expect((await other.auth.me.query()).user.email).toBe(a.owner.email);
    } finally {
      await other.close();
    }
  });

  it('an anonymous subscription is refused with AUTH_REQUIRED', async () => {
    const anonymous = createKeelClient({ url: server.url });
    try {
      const err = await subscribe(anonymous)
        .then(({ first }) => first)
        .catch((e: unknown) => e);
      expect(isKeelError(err, 'AUTH_REQUIRED')).toBe(true);
    } finally {
      await anonymous.close();
    }
  });

  it('garbage frames get a parse error, not a crash', async () => {
    const sock = openSocket({ cookie: ownerCookie });
    expect(await sock.opened).toEqual({ ok: true });
    sock.ws.send('{"id": 1, "method": ');
    await new Promise<void>((resolve) => sock.ws.once('message', () => resolve()));
    expect(JSON.parse(sock.messages[0]!).error.json.data.appCode).toBe('VALIDATION_FAILED');
    sock.ws.send(JSON.stringify({ id: 2, method: 'query', params: { path: 'auth.me', input: {} } }));
    await new Promise<void>((resolve) => sock.ws.once('message', () => resolve()));
    expect(JSON.parse(sock.messages[1]!).result.data.json.user.email).toBe(a.owner.email);
    sock.ws.close();
  });
});

describe('request ids', () => {
  it('a sane X-Request-Id is echoed in the header and in error bodies', async () => {
    const res = await query('organization.current', undefined, { 'x-request-id': 'client-req_42.a:b' });
    expect(res.headers['x-request-id']).toBe('client-req_42.a:b');
    expect(errorOf(res).data.requestId).toBe('client-req_42.a:b');
  });

  it('an unsafe or oversized one is replaced by a fresh id', async () => {
    for (const given of ['has spaces in it', 'x'.repeat(200), '<script>']) {
      const res = await query('organization.current', undefined, { 'x-request-id': given });
      const id = res.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(errorOf(res).data.requestId).toBe(id);
    }
  });

  it('every response gets one, including health checks', async () => {
    const res = await send('GET', '/livez');
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('responses never leak internals', () => {
  it('no response body in this file carried a stack trace, a file path or a 500', () => {
    expect(bodies.length).toBeGreaterThan(40);
    for (const { what, status, text } of bodies) {
      expect(status, what).toBeLessThan(500);
      expect(text, what).not.toMatch(
        /\bat [\w.<>]+ \(|node_modules|\.ts:\d+|"stack"|ECONNREFUSED|SELECT |insert into/i,
      );
    }
  });
});
