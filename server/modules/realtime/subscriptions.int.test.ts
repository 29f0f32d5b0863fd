import { TRPCClientError, type TRPCClient } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import {
  addMember,
  callerAs,
  createOrg,
  createStaff,
  PASSWORD,
  tokenFor,
  type TestUser,
} from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import type { AppRouter } from '../../trpc/router.ts';
import { appRouter } from '../../trpc/router.ts';
import { User } from '../auth/user.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import {
  clientOf,
  collect,
  signInCookie,
  waitFor,
  type Collector,
  type Handlers,
  type TestClient,
} from './testing/cluster.ts';

// Issue 17.2: every subscription goes through one path (openLive), so every one of them ends when the access behind
// it ends, and counts toward the per-connection limit. The list of subscriptions is read from the router: a new
// subscription without a case here fails the first test.

/** What a subscription depends on: an organization's membership, only the user's credentials, or staff status. */
type Scope = 'tenant' | 'user' | 'staff';

interface Fixture {
  documentId: string;
}

type Subscribe = (trpc: TRPCClient<AppRouter>, h: Handlers<unknown>, f: Fixture) => { unsubscribe(): void };

const CASES: Record<string, { scope: Scope; subscribe: Subscribe }> = {
  'activity.onNew': { scope: 'tenant', subscribe: (t, h) => t.activity.onNew.subscribe(undefined, h) },
  'flags.onChange': { scope: 'tenant', subscribe: (t, h) => t.flags.onChange.subscribe(undefined, h) },
  'documents.updates': {
    scope: 'tenant',
    subscribe: (t, h, f) => t.documents.updates.subscribe({ documentId: f.documentId }, h),
  },
  'documents.presence': {
    scope: 'tenant',
    subscribe: (t, h, f) => t.documents.presence.subscribe({ documentId: f.documentId }, h),
  },
  'documents.signals': {
    scope: 'tenant',
    subscribe: (t, h, f) => t.documents.signals.subscribe({ documentId: f.documentId }, h),
  },
  'org.events': { scope: 'tenant', subscribe: (t, h) => t.org.events.subscribe(undefined, h) },
  'jobs.progress': { scope: 'tenant', subscribe: (t, h) => t.jobs.progress.subscribe(undefined, h) },
  'user.notifications': { scope: 'user', subscribe: (t, h) => t.user.notifications.subscribe(undefined, h) },
  'ops.metrics': { scope: 'staff', subscribe: (t, h) => t.ops.metrics.subscribe(undefined, h) },
  'ops.queues.live': { scope: 'staff', subscribe: (t, h) => t.ops.queues.live.subscribe(undefined, h) },
};

/** tRPC keeps every procedure under its dotted path in `_def.procedures` (typed as the nested router). */
const isSubscription = (p: unknown): boolean =>
  typeof p === 'function' && '_def' in p && (p._def as { type?: unknown }).type === 'subscription';

const subscriptionPaths = Object.entries(appRouter._def.procedures)
  .filter(([, p]) => isSubscription(p))
  .map(([path]) => path)
  .sort();

let env: TestEnv;
let server: RunningServer;
const clients: TestClient[] = [];

const appCode = (err: unknown) =>
  err instanceof TRPCClientError ? (err.data as { appCode?: string } | undefined)?.appCode : undefined;

beforeAll(async () => {
  env = await createTestEnv();
  // Long enough that only the revocation itself can end a subscription within a test.
  env.deps.realtime.configure({ revalidateMs: 10 * 60_000, maxSubscriptionsPerConnection: 50 });
  server = await startServer(env.deps);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server?.close();
  await env?.close();
});

/** A fresh organization with a public document, and a member of it who is also staff. */
async function scenario() {
  const org = await createOrg(env.deps);
  const ownerToken = await tokenFor(env.deps, org.id, org.owner);
  const owner = client({ token: ownerToken });
  const doc = await owner.trpc.documents.create.mutate({ title: 'Shared', content: 'v1', public: true });
  const user = await addMember(env.deps, org.id, 'member');
  await setStaff(user, true);
  return { org, user, fixture: { documentId: doc.id } };
}

async function setStaff(user: TestUser, staff: boolean) {
  await withDbScope(env.deps.em, undefined, async (em) => {
    (await em.findOneOrFail(User, { id: user.id })).staff = staff;
    await em.flush();
  });
}

function client(auth: { token: string } | { cookie: string; origin: string }, organizationId?: string) {
  const c = clientOf(server.url, {
    auth,
    wsUrl: server.wsUrl,
    ...(organizationId ? { organizationId } : {}),
  });
  clients.push(c);
  return c;
}

async function sessionOf(user: TestUser, organizationId: string) {
  const origin = env.config.appUrl;
  const cookie = await signInCookie(server, origin, user.email, PASSWORD);
  return client({ cookie, origin }, organizationId);
}

/** Every subscription of the router (of the given scopes) on one connection, started. */
async function subscribeAll(
  c: TestClient,
  f: Fixture,
  scopes: Scope[] = ['tenant', 'user', 'staff'],
): Promise<Map<string, Collector<unknown>>> {
  const paths = subscriptionPaths.filter((p) => scopes.includes(CASES[p]!.scope));
  const subs = new Map(paths.map((p) => [p, collect((h) => CASES[p]!.subscribe(c.trpc, h, f))]));
  await waitFor(
    () => [...subs.values()].every((s) => s.started || s.errors.length > 0),
    'every subscription',
  );
  for (const [path, s] of subs) expect(s.errors.map(String), path).toEqual([]);
  return subs;
}

/** The subscriptions whose scope the event takes away end with `code`; the others stay live. */
async function expectEnded(subs: Map<string, Collector<unknown>>, scopes: Scope[], code: string) {
  for (const [path, s] of subs) {
    if (!scopes.includes(CASES[path]!.scope)) continue;
    expect({ path, code: appCode(await s.untilError(10_000)) }).toEqual({ path, code });
  }
  for (const [path, s] of subs) {
    if (scopes.includes(CASES[path]!.scope)) continue;
    expect({ path, errors: s.errors.map(String) }).toEqual({ path, errors: [] });
    s.stop();
  }
}

describe('every subscription of the router', () => {
  it('has a case here (a new subscription must be added and pass every test below)', () => {
    expect(subscriptionPaths).toEqual(Object.keys(CASES).sort());
  });

  it('ends when its session signs out', async () => {
    const { org, user, fixture } = await scenario();
    const c = await sessionOf(user, org.id);
    const subs = await subscribeAll(c, fixture);
    await c.trpc.auth.signOut.mutate();
    await expectEnded(subs, ['tenant', 'user', 'staff'], 'SESSION_EXPIRED');
  });

  it('ends when its API token is revoked (staff subscriptions refuse tokens from the start)', async () => {
    const { org, user, fixture } = await scenario();
    const c = client({ token: await tokenFor(env.deps, org.id, user, ['read', 'tokens:manage'], 'member') });
    // Operations need a signed-in staff session: a staff member's token is refused before it streams anything.
    for (const path of subscriptionPaths.filter((p) => CASES[p]!.scope === 'staff')) {
      const refused = collect((h) => CASES[path]!.subscribe(c.trpc, h, fixture));
      expect({ path, code: appCode(await refused.untilError(10_000)) }).toEqual({ path, code: 'STAFF_ONLY' });
    }
    const subs = await subscribeAll(c, fixture, ['tenant', 'user']);
    await c.trpc.tokens.revokeCurrent.mutate();
    await expectEnded(subs, ['tenant', 'user'], 'TOKEN_REVOKED');
  });

  it('ends when the user is removed from the organization (tenant subscriptions)', async () => {
    const { org, user, fixture } = await scenario();
    const subs = await subscribeAll(await sessionOf(user, org.id), fixture);
    await withDbScope(env.deps.em, org.id, async (em) => {
      em.remove(await em.findOneOrFail(Membership, { user: user.id }));
      await em.flush();
    });
    await expectEnded(subs, ['tenant'], 'NOT_A_MEMBER');
  });

  it('ends when the organization is suspended (tenant subscriptions)', async () => {
    const { org, user, fixture } = await scenario();
    const subs = await subscribeAll(await sessionOf(user, org.id), fixture);
    const operator = await createStaff(env.deps);
    const ops = await callerAs(env.deps, operator);
    await ops.ops.tenants.suspend({ id: org.id, reason: 'subscription test' });
    await expectEnded(subs, ['tenant'], 'TENANT_SUSPENDED');
  });

  it('ends when the user is no longer staff (staff subscriptions)', async () => {
    const { org, user, fixture } = await scenario();
    const subs = await subscribeAll(await sessionOf(user, org.id), fixture);
    await setStaff(user, false);
    await expectEnded(subs, ['staff'], 'STAFF_ONLY');
  });

  it('counts toward the per-connection subscription limit', async () => {
    const { org, user, fixture } = await scenario();
    env.deps.realtime.configure({ maxSubscriptionsPerConnection: 2 });
    try {
      for (const path of subscriptionPaths) {
        // A session: it may hold every subscription, the staff ones included.
        const c = await sessionOf(user, org.id);
        const open = [0, 1].map(() => collect((h) => CASES[path]!.subscribe(c.trpc, h, fixture)));
        await waitFor(() => open.every((s) => s.started), `two of ${path}`);
        const third = collect((h) => CASES[path]!.subscribe(c.trpc, h, fixture));
        expect({ path, code: appCode(await third.untilError(10_000)) }).toEqual({
          path,
          code: 'RATE_LIMITED',
        });
        await c.close();
      }
    } finally {
      env.deps.realtime.configure({ maxSubscriptionsPerConnection: 50 });
    }
  });
});
