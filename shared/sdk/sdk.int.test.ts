import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket as WsWebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../server/test/harness.ts';
import {
  addMember,
  callerAs,
  createOrg,
  PASSWORD,
  tokenFor,
  type TestOrg,
  type TestUser,
} from '../../server/test/factories.ts';
import { Membership } from '../../server/modules/tenancy/membership.entity.ts';
import { withDbScope } from '../../server/platform/db/context.ts';
import { createKeelClient, isKeelError, signIn, type RouterOutputs } from './index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const script = path.join(root, 'shared/sdk/example.ts');

let env: TestEnv;
let server: RunningServer;
let org: TestOrg;
let member: TestUser;
let admin: TestUser;

beforeAll(async () => {
  env = await createTestEnv();
  server = await startServer(env.deps);
  org = await createOrg(env.deps, 'Sdk Co');
  member = await addMember(env.deps, org.id, 'member');
  admin = await addMember(env.deps, org.id, 'admin');
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

type Line = Record<string, unknown> & { step: string };

interface ChildResult {
  code: number | null;
  lines: Line[];
  stderr: string;
}

/**
 * Runs the example program in its own Node process. `onLine` sees each JSON line as it is printed (the test
 * triggers activity once the child says it is subscribed). The child is killed if it outlives the test budget.
 */
function runExample(args: string[], onLine: (line: Line) => void | Promise<void>): Promise<ChildResult> {
  const child = spawn(tsx, [script, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const pending: Promise<void>[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    pending.push(Promise.resolve(onLine(line)));
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      Promise.all(pending).then(() => resolve({ code, lines, stderr }), reject);
    });
  });
}

const step = (lines: Line[], name: string) => lines.find((l) => l.step === name);

/** Makes activity in the organization: an admin creates an API token (recorded as `token.created`). */
async function makeActivity(): Promise<string> {
  const caller = await callerAs(env.deps, admin);
  const { token } = await caller.tokens.create({ name: 'activity trigger', abilities: ['read'] });
  return token.id;
}

describe('the SDK from a separate Node process', () => {
  it('signs in with a password, queries, receives a subscription event, and signs out on close', async () => {
    let triggered: string | undefined;
    const redis = env.deps.redis.get('sessions');
    const index = `${env.deps.redis.keyspace('sessions')}user:${org.owner.id}`;
    let liveSessions: string[] = [];
    const result = await runExample(
      ['--url', server.url, '--email', org.owner.email, '--password', PASSWORD],
      async (line) => {
        if (line.step !== 'subscribed') return;
        liveSessions = await redis.smembers(index);
        triggered = await makeActivity();
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(step(result.lines, 'me')).toMatchObject({
      email: org.owner.email,
      via: 'session',
      organizationId: org.id,
    });
    expect(step(result.lines, 'me')?.abilities).toContain('billing:manage');
    const members = step(result.lines, 'members');
    expect(members?.emails).toEqual(expect.arrayContaining([org.owner.email, member.email, admin.email]));
    expect(members?.joinedAtIsDate).toBe(true);
    expect(step(result.lines, 'ops')).toMatchObject({ refused: true, appCode: 'STAFF_ONLY', status: 403 });
    expect(triggered).toBeDefined();
    expect(step(result.lines, 'event')).toMatchObject({
      action: 'token.created',
      subjectType: 'api_token',
      userId: admin.id,
      createdAtIsDate: true,
    });
    expect(result.lines.map((l) => l.step)).toEqual([
      'me',
      'members',
      'ops',
      'subscribed',
      'event',
      'closed',
    ]);

    // close() signed the session out: the session that was live while subscribed is gone, and so is its entry
    // in the owner's session index.
    expect(liveSessions.length).toBeGreaterThan(0);
    expect(await redis.exists(...liveSessions)).toBe(0);
    expect(await redis.smembers(index)).toEqual([]);
  });

  it('uses an API token for HTTP and for the subscription socket', async () => {
    const token = await tokenFor(env.deps, org.id, member, ['read'], 'member');
    const result = await runExample(
      ['--url', server.url, '--token', token, '--events', '2'],
      async (line) => {
        if (line.step === 'subscribed') {
          await makeActivity();
          await makeActivity();
        }
      },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(step(result.lines, 'me')).toMatchObject({
      email: member.email,
      via: 'token',
      organizationId: org.id,
      abilities: ['read'],
    });
    expect(step(result.lines, 'ops')).toMatchObject({ refused: true, appCode: 'STAFF_ONLY' });
    const events = result.lines.filter((l) => l.step === 'event');
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    expect(result.lines.at(-1)?.step).toBe('closed');
  });

  it('exits with the typed error when the credentials are wrong', async () => {
    const result = await runExample(
      ['--url', server.url, '--email', org.owner.email, '--password', 'not the password'],
      () => undefined,
    );
    expect(result.code).toBe(1);
    expect(result.lines).toEqual([]);
    expect(result.stderr).toMatch(/Email or password is incorrect/);
  });
});

describe('the SDK in this process', () => {
  it('signIn refuses a wrong password with INVALID_CREDENTIALS and a field-level error for bad input', async () => {
    const wrong = await signIn({ url: server.url, email: org.owner.email, password: 'nope-nope-nope' }).catch(
      (e: unknown) => e,
    );
    expect(isKeelError(wrong, 'INVALID_CREDENTIALS')).toBe(true);
    expect(isKeelError(wrong, 'TOKEN_INVALID')).toBe(false);

    const invalid = await signIn({ url: server.url, email: 'not-an-email', password: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(isKeelError(invalid, 'VALIDATION_FAILED')).toBe(true);
    if (isKeelError(invalid)) expect(invalid.data?.fieldErrors?.email).toBeDefined();
  });

  it('a token client with the ws package: typed outputs, and a revoked token stops the next subscription', async () => {
    const secret = await tokenFor(env.deps, org.id, org.owner, ['read', 'write', 'tokens:manage']);
    const client = createKeelClient({ url: server.url, token: secret, WebSocket: WsWebSocket });
    try {
      const current: RouterOutputs['organization']['current'] = await client.organization.current.query();
      expect(current).toMatchObject({ id: org.id, name: 'Sdk Co', role: 'owner' });

      // A batch of calls in one HTTP request.
      const [me, members] = await Promise.all([client.auth.me.query(), client.organization.members.query()]);
      expect(me.abilities).toEqual(['read', 'write', 'tokens:manage']);
      expect(members.length).toBe(3);

      const refused = await client.organization.update.mutate({ name: 'Renamed' }).catch((e: unknown) => e);
      expect(isKeelError(refused, 'ABILITY_MISSING')).toBe(true);

      await client.tokens.revokeCurrent.mutate();
      const error = await new Promise<unknown>((resolve) => {
        const sub = client.activity.onNew.subscribe(undefined, {
          onData: () => resolve(new Error('an event arrived for a revoked token')),
          onError: (err) => {
            sub.unsubscribe();
            resolve(err);
          },
        });
      });
      expect(isKeelError(error, 'TOKEN_REVOKED')).toBe(true);
      const again = await client.auth.me.query().catch((e: unknown) => e);
      expect(isKeelError(again, 'TOKEN_REVOKED')).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('organizationId picks the organization of a session that belongs to several', async () => {
    const other = await createOrg(env.deps, 'Second Co');
    await withDbScope(env.deps.em, other.id, async (em) => {
      em.create(Membership, { organization: other.id, user: member.id, role: 'member' });
      await em.flush();
    });
    const inOther = await signIn({
      url: server.url,
      email: member.email,
      password: PASSWORD,
      organizationId: other.id,
    });
    try {
      expect((await inOther.organization.current.query()).id).toBe(other.id);
    } finally {
      await inOther.close();
    }
    const inOwn = await signIn({ url: server.url, email: member.email, password: PASSWORD });
    try {
      expect((await inOwn.organization.current.query()).id).toBe(org.id);
    } finally {
      await inOwn.close();
    }
  });
});
