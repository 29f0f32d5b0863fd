// Every procedure of the router, fed hostile input over real HTTP (issue 17: 94 answers were 500): prototype keys,
// lone surrogates, extreme numbers and dates, oversized values, wrong types, undecodable bodies. The list comes from
// the router, so a new procedure is covered the day it is added. Nothing may answer 5xx, and every refusal must be a
// typed tRPC error (code, httpStatus, appCode).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from './router.ts';
import { BillingSandbox } from '../modules/billing/sandbox/sandbox.ts';
import { createLogger } from '../platform/logger/logger.ts';
import { createOrg, createStaff, PASSWORD, type TestOrg, type TestUser } from '../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../test/harness.ts';
import { sendRaw, trpcErrorOf, type RawResponse } from '../test/http.ts';

const ORIGIN = 'http://localhost:3000';

let env: TestEnv;
let server: RunningServer;
let org: TestOrg;
let staff: TestUser;
const cookies = new Map<string, string>();

interface Procedure {
  path: string;
  type: 'query' | 'mutation';
  /** Top-level field names of an object input, when the schema says. */
  fields: string[];
}

function proceduresOf(): Procedure[] {
  const out: Procedure[] = [];
  for (const [path, p] of Object.entries(appRouter._def.procedures as Record<string, unknown>)) {
    if (typeof p !== 'function' || !('_def' in p)) continue;
    const def = p._def as { type?: unknown; inputs?: unknown };
    if (def.type !== 'query' && def.type !== 'mutation') continue; // subscriptions: subscriptions.int.test.ts
    const fields = new Set<string>();
    for (const input of Array.isArray(def.inputs) ? def.inputs : []) {
      const shape = (input as { shape?: unknown }).shape;
      if (shape && typeof shape === 'object') for (const key of Object.keys(shape)) fields.add(key);
    }
    out.push({ path, type: def.type, fields: [...fields] });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

const EXTREME_DATE = '+275760-09-13T00:00:00.000Z';

/** Request bodies (superjson envelopes as text, so lone surrogates and prototype keys reach the server as sent). */
function hostileBodies(p: Procedure): { name: string; body: string }[] {
  const big = p.type === 'mutation' ? 300_000 : 3_000; // a GET carries its input in the URL
  const whole = [
    {
      name: 'prototype keys',
      body: '{"json":{"constructor":{"x":1},"toString":1,"valueOf":1,"hasOwnProperty":1}}',
    },
    { name: '__proto__', body: '{"json":{"__proto__":{"polluted":true}}}' },
    { name: 'lone surrogate', body: '{"json":"\\ud800"}' },
    { name: 'huge number', body: '{"json":1e308}' },
    { name: 'negative', body: '{"json":-1}' },
    { name: 'array', body: '{"json":[]}' },
    { name: 'null', body: '{"json":null}' },
    { name: 'null body', body: 'null' },
    { name: 'oversized string', body: JSON.stringify({ json: 'x'.repeat(big) }) },
    { name: 'deep nesting', body: `{"json":${'['.repeat(2000)}${']'.repeat(2000)}}` },
    { name: 'bad superjson meta', body: '{"json":{"a":1},"meta":{"values":{"a":["bigint"]}}}' },
    { name: 'unknown superjson class', body: '{"json":{"a":1},"meta":{"values":{"a":[["class","Nope"]]}}}' },
  ];
  const perField = p.fields.flatMap((f) => {
    const k = JSON.stringify(f);
    return [
      { name: `${f}: lone surrogate`, body: `{"json":{${k}:"a\\udc00b"}}` },
      { name: `${f}: oversized`, body: `{"json":{${k}:${JSON.stringify('y'.repeat(big))}}}` },
      { name: `${f}: huge number`, body: `{"json":{${k}:1e308}}` },
      { name: `${f}: prototype keys inside`, body: `{"json":{${k}:{"constructor":1,"toString":"x"}}}` },
      { name: `${f}: wrong type`, body: `{"json":{${k}:[true,{"a":null}]}}` },
      {
        name: `${f}: extreme date`,
        body: `{"json":{${k}:${JSON.stringify(EXTREME_DATE)}},"meta":{"values":{${k}:["Date"]}}}`,
      },
    ];
  });
  return [...whole, ...perField];
}

async function signIn(email: string): Promise<string> {
  const res = await sendRaw(server.url, 'POST', '/trpc/auth.signIn', {
    body: JSON.stringify({ json: { email, password: PASSWORD } }),
    headers: { origin: ORIGIN },
  });
  expect(res.status).toBe(200);
  const cookie = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('keel_session='));
  return cookie!.split(';')[0]!;
}

/** A working credential for the procedure: a staff session for ops.*, the owner's session otherwise. */
async function credentialFor(path: string): Promise<Record<string, string>> {
  const who = path.startsWith('ops.') ? staff.email : org.owner.email;
  let cookie = cookies.get(who);
  // An earlier procedure may have ended the session (auth.signOut accepts any input it can ignore): sign in again.
  if (cookie) {
    const me = await sendRaw(server.url, 'GET', '/trpc/auth.me', { headers: { cookie } });
    if (me.status !== 200) cookie = undefined;
  }
  if (!cookie) {
    cookie = await signIn(who);
    cookies.set(who, cookie);
  }
  return { cookie, origin: ORIGIN, 'x-organization-id': org.id };
}

function send(p: Procedure, body: string, headers: Record<string, string>): Promise<RawResponse> {
  if (p.type === 'mutation') return sendRaw(server.url, 'POST', `/trpc/${p.path}`, { body, headers });
  return sendRaw(server.url, 'GET', `/trpc/${p.path}?input=${encodeURIComponent(body)}`, { headers });
}

beforeAll(async () => {
  // Billing on the sandbox, so billing procedures validate their input instead of answering "not configured".
  const sandbox = await BillingSandbox.start({ logger: createLogger({ level: 'silent', pretty: false }) });
  env = await createTestEnv({ LOG_LEVEL: 'silent' }, { billingSandbox: sandbox });
  server = await startServer(env.deps);
  org = await createOrg(env.deps, 'Hostile Co');
  staff = await createStaff(env.deps);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await env?.close(); // closes the sandbox with the deps
});

describe('hostile input to every procedure, over HTTP', () => {
  const procedures = proceduresOf();

  it('finds the procedures in the router (queries and mutations of every module)', () => {
    expect(procedures.length).toBeGreaterThan(60);
    for (const module of [
      'auth',
      'tokens',
      'organization',
      'documents',
      'exports',
      'imports',
      'ops',
      'flags',
    ]) {
      expect(procedures.some((p) => p.path.startsWith(`${module}.`))).toBe(true);
    }
  });

  it('answers no 5xx, and every refusal is a typed error', { timeout: 600_000 }, async () => {
    const failures: string[] = [];
    let sent = 0;
    for (const p of procedures) {
      const headers = await credentialFor(p.path);
      for (const { name, body } of hostileBodies(p)) {
        const res = await send(p, body, headers);
        sent += 1;
        const typed = trpcErrorOf(res);
        if (res.status >= 500) failures.push(`${p.path} (${name}): ${res.status} ${res.text.slice(0, 160)}`);
        else if (res.status >= 400 && !typed && res.status !== 431) {
          // 431: a GET whose URL exceeds Node's header limit is refused by Node itself, before Keel.
          failures.push(`${p.path} (${name}): ${res.status} untyped ${res.text.slice(0, 160)}`);
        }
      }
    }
    expect(sent).toBeGreaterThan(1000);
    expect(failures).toEqual([]);
  });
});
