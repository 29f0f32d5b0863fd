import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchSummary } from '../../modules/imports/imports.service.ts';
import { BusinessRecord } from '../../modules/records/record.entity.ts';
import { collect, waitFor, type Collector } from '../../modules/realtime/testing/cluster.ts';
import { withDbScope } from '../../platform/db/context.ts';
import type { WorkerInfo } from '../../platform/queue/system.ts';
import { addMember, createOrg, createStaff, PASSWORD, tokenFor, type TestOrg } from '../factories.ts';
import { createFleetEnvironment, type FleetEnvironment } from './environment.ts';
import { startFleet, type Fleet } from './fleet.ts';
import { call, signIn, type Auth, type CallResult } from './http.ts';
import { subscriber, type Subscriber } from './ws-client.ts';

// Two `keel serve` and two `keel work` processes (server/main.ts, as production starts them) behind HAProxy with
// the shipped haproxy.cfg, on loopback ports, with a database and Redis key prefix of their own. Everything that
// outlives a request lives in Redis or PostgreSQL, so round-robin traffic must behave as on one node, and losing
// a node must cost only what that node was doing at that moment. Real limits: the `api` limit (60 calls a minute
// per user) is part of what is proven, so traffic is spread over many users.

const ORIGIN = 'http://localhost:3000';
let fx: FleetEnvironment;
let fleet: Fleet;
let org: TestOrg;
let ownerToken: string;
const subscribers: Subscriber[] = [];

type Tracked<T> = { id: string; data: T };
type DocUpdate = Tracked<{ version: number }>;

beforeAll(async () => {
  fx = await createFleetEnvironment('fleet');
  fleet = await startFleet(fx.env, { apis: 2, workers: 2 });
  org = await createOrg(fx.deps, 'Fleet Org');
  ownerToken = await tokenFor(fx.deps, org.id, org.owner, ['read', 'write', 'tokens:manage']);
}, 420_000);

afterAll(async () => {
  await Promise.allSettled(subscribers.map((s) => s.close()));
  await fleet?.stop();
  await fx?.close();
}, 60_000);

const lb = () => fleet.lb.url;
const token = (secret: string): Auth => ({ token: secret });
const nodesOf = (results: CallResult[]) => new Set(results.map((r) => r.node));
async function calls(n: number, procedure: string, auth: Auth, input?: unknown): Promise<CallResult[]> {
  const out: CallResult[] = [];
  for (let i = 0; i < n; i++) out.push(await call(lb(), procedure, { auth, input }));
  return out;
}
const memberToken = async (abilities: ('read' | 'write')[] = ['read', 'write']) => {
  const user = await addMember(fx.deps, org.id, 'member');
  return { user, auth: token(await tokenFor(fx.deps, org.id, user, abilities, 'member')) };
};
function sub(auth: Exclude<Auth, null>) {
  const s = subscriber(fleet.lb.wsUrl, auth);
  subscribers.push(s);
  return s;
}
async function newDocument(auth: Auth) {
  const r = await call<{ id: string; version: number }>(lb(), 'documents.create', {
    type: 'mutation',
    auth,
    input: { title: 'Fleet plan', content: 'v1' },
  });
  expect(r.ok, r.error).toBe(true);
  return r.data!;
}

describe('round robin through HAProxy', () => {
  it("spreads a token's and a browser session's calls over both nodes, each answered as the same caller", async () => {
    const byToken = await calls(6, 'organization.current', token(ownerToken));
    expect(byToken.every((r) => r.ok)).toBe(true);
    expect(nodesOf(byToken)).toEqual(new Set(['api1', 'api2']));
    expect(new Set(byToken.map((r) => (r.data as { id: string }).id))).toEqual(new Set([org.id]));

    // The session lives in Redis: signed in through one node, it is valid on both; signed out through one, on none.
    const member = await addMember(fx.deps, org.id, 'member');
    const { cookie } = await signIn(lb(), ORIGIN, member.email, PASSWORD, {
      'x-forwarded-for': '192.0.2.10',
    });
    const browser: Auth = { cookie, origin: ORIGIN };
    const me = await calls(4, 'auth.me', browser);
    expect(me.map((r) => [r.ok, (r.data as { user: { id: string } } | undefined)?.user.id])).toEqual(
      new Array(4).fill([true, member.id]),
    );
    expect(nodesOf(me)).toEqual(new Set(['api1', 'api2']));
    expect((await call(lb(), 'auth.signOut', { type: 'mutation', auth: browser })).ok).toBe(true);
    const after = await calls(2, 'auth.me', browser);
    expect(after.map((r) => r.status)).toEqual([401, 401]);
    expect(nodesOf(after)).toEqual(new Set(['api1', 'api2']));
  });

  it('serves a flag change made through one node on the very next call to either node', async () => {
    const staff = await createStaff(fx.deps);
    const { cookie } = await signIn(lb(), ORIGIN, staff.email, PASSWORD, { 'x-forwarded-for': '192.0.2.11' });
    const ops: Auth = { cookie, origin: ORIGIN };
    const key = 'fleet-editor';
    const created = await call(lb(), 'ops.flags.create', {
      type: 'mutation',
      auth: ops,
      input: { key, description: 'A flag flipped across nodes', kind: 'boolean', owner: 'fleet test' },
    });
    expect(created.ok, created.error).toBe(true);
    const value = (r: CallResult) => (r.data as Record<string, { value: unknown }>)[key]?.value;
    // Both nodes evaluate (and cache) the flag as off...
    const before = await calls(4, 'flags.evaluateAll', token(ownerToken));
    expect(before.map(value)).toEqual([false, false, false, false]);
    expect(nodesOf(before)).toEqual(new Set(['api1', 'api2']));
    // ...one node turns it on for the organization, and the next call to each node sees it.
    const set = await call(lb(), 'ops.flags.setOverride', {
      type: 'mutation',
      auth: ops,
      input: { key, organizationId: org.id, variant: 'on' },
    });
    expect(set.ok, set.error).toBe(true);
    const after = await calls(2, 'flags.evaluateAll', token(ownerToken));
    expect(after.map(value)).toEqual([true, true]);
    expect(nodesOf(after)).toEqual(new Set(['api1', 'api2']));
  });

  it('invalidates a cached dashboard on both nodes when a write lands on either', async () => {
    const { auth } = await memberToken();
    const stats = () => calls(2, 'dashboard.stats', auth);
    const subjects = (r: CallResult) =>
      (r.data as { recentActivity: { subjectId: string | null }[] }).recentActivity.map((a) => a.subjectId);
    const primed = await stats();
    expect(nodesOf(primed)).toEqual(new Set(['api1', 'api2']));
    const doc = await newDocument(auth);
    const after = await stats();
    expect(nodesOf(after)).toEqual(new Set(['api1', 'api2']));
    for (const r of after) expect(subjects(r), r.node!).toContain(doc.id);
  });

  it('counts the `api` limit once across both nodes: 60 calls a minute per user, not 60 per node', async () => {
    const { auth } = await memberToken(['read']);
    const results = await calls(70, 'organization.current', auth);
    const served = results.filter((r) => r.ok);
    const limited = results.filter((r) => !r.ok);
    expect(served).toHaveLength(60);
    expect(nodesOf(served)).toEqual(new Set(['api1', 'api2']));
    expect(limited.map((r) => r.appCode)).toEqual(new Array(10).fill('RATE_LIMITED'));
    expect(nodesOf(limited)).toEqual(new Set(['api1', 'api2']));
  });

  it('delivers a document update saved through one node to subscribers held by either node', async () => {
    const { auth } = await memberToken();
    const doc = await newDocument(auth);
    const clients = [0, 1, 2, 3].map(() => sub(auth as { token: string }));
    const feeds = clients.map((c) =>
      collect<DocUpdate>((h) => c.trpc.documents.updates.subscribe({ documentId: doc.id }, h)),
    );
    await waitFor(() => feeds.every((f) => f.started), 'four subscriptions');
    const held = clients.map((c) => c.nodes[0]);
    expect(new Set(held)).toEqual(new Set(['api1', 'api2']));
    const savedOn: string[] = [];
    for (let v = 1; v <= 4; v++) {
      const r = await call(lb(), 'documents.update', {
        type: 'mutation',
        auth,
        input: { id: doc.id, baseVersion: v, content: `v${v + 1}` },
      });
      expect(r.ok, r.error).toBe(true);
      savedOn.push(r.node!);
    }
    expect(new Set(savedOn)).toEqual(new Set(['api1', 'api2']));
    for (const f of feeds) {
      await f.until((i) => i.length >= 4, 'four updates');
      expect(f.items.map((i) => i.data.version)).toEqual([2, 3, 4, 5]);
      f.stop();
    }
  });
});

describe('losing a node', () => {
  it(
    'kill -9 of an API node under traffic: only its in-flight calls fail; its WebSocket clients resume on the other node and miss nothing',
    { timeout: 180_000 },
    async () => {
      // HTTP traffic: 40 users (each under its 60-a-minute limit) calling in closed loops with a short pause.
      const users = await Promise.all(Array.from({ length: 40 }, () => memberToken(['read'])));
      const { auth: writer } = await memberToken();
      const doc = await newDocument(writer);
      // Six live subscribers, spread over both nodes by HAProxy.
      const clients = Array.from({ length: 6 }, () => sub(writer as { token: string }));
      const feeds: Collector<DocUpdate>[] = clients.map((c) =>
        collect<DocUpdate>((h) => c.trpc.documents.updates.subscribe({ documentId: doc.id }, h)),
      );
      await waitFor(() => feeds.every((f) => f.started), 'six subscriptions');
      expect(new Set(clients.map((c) => c.nodes[0]))).toEqual(new Set(['api1', 'api2']));

      interface Sample {
        start: number;
        end: number;
        result: CallResult;
      }
      const samples: Sample[] = [];
      let running = true;
      const loops = users.map(async ({ auth }) => {
        while (running) {
          const start = performance.now();
          const result = await call(lb(), 'organization.current', { auth });
          samples.push({ start, end: performance.now(), result });
          await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
        }
      });
      // The writer saves the document continuously, at most 30 times: its token's `api` limit is 60 a minute, its six
      // subscriptions and their resubscriptions count too, and each node leases that limit 10 calls at a time (a
      // node may refuse up to 9 early, and the killed node's unspent lease lapses). A save lost with the node is
      // detected by reading the version.
      let version = 1;
      const saves: Sample[] = [];
      const writing = (async () => {
        while (running && saves.length < 30) {
          const start = performance.now();
          const result = await call<{ version: number }>(lb(), 'documents.update', {
            type: 'mutation',
            auth: writer,
            input: { id: doc.id, baseVersion: version, content: `c${version}` },
          });
          saves.push({ start, end: performance.now(), result });
          if (result.ok) version = result.data!.version;
          else {
            const current = await call<{ version: number }>(lb(), 'documents.get', {
              auth: writer,
              input: { id: doc.id },
            });
            if (current.ok) version = current.data!.version;
          }
          await new Promise((r) => setTimeout(r, 150));
        }
      })();

      await new Promise((r) => setTimeout(r, 4_000));
      const victim = fleet.api('api1');
      const killAt = performance.now();
      const doneBeforeKill = samples.length + saves.length;
      await victim.kill();
      const deadAt = performance.now();
      await new Promise((r) => setTimeout(r, 5_000));
      running = false;
      await Promise.all([...loops, writing]);

      const all = [...samples, ...saves];
      const failed = all.filter((s) => !s.result.ok);
      const inFlightAtKill = all.filter((s) => s.start < killAt && s.end > killAt);
      // Every failure is a call that was under way when the node died (started before it was gone, still open
      // when the kill was sent); every call that started after it was gone succeeded (HAProxy retried refused
      // connections on the other node before its checks took the dead one out).
      for (const f of failed) {
        expect(f.start, JSON.stringify(f.result)).toBeLessThan(deadAt);
        expect(f.end, JSON.stringify(f.result)).toBeGreaterThan(killAt);
      }
      expect(all.filter((s) => s.start >= deadAt && !s.result.ok)).toEqual([]);
      expect(all.filter((s) => s.start >= deadAt && s.result.node === 'api1')).toEqual([]);
      expect(all.filter((s) => s.start >= deadAt).length).toBeGreaterThan(100);
      for (const f of failed) expect([0, 502, 503]).toContain(f.result.status);
      process.stdout.write(
        `fleet kill -9: ${all.length} calls (${doneBeforeKill} done before the kill), ${inFlightAtKill.length} in flight at the kill, ${failed.length} failed (statuses ${[...new Set(failed.map((f) => f.result.status))].join(',') || '-'})\n`,
      );

      // Subscribers that were on the dead node reconnected through HAProxy to the other one and replayed the gap:
      // every version from 2 to the last, in order, none twice.
      const moved = clients.filter((c) => c.nodes[0] === 'api1');
      expect(moved.length).toBeGreaterThan(0);
      for (const c of moved) expect(c.nodes.at(-1)).toBe('api2');
      const expected = Array.from({ length: version - 1 }, (_, i) => i + 2);
      for (const [i, f] of feeds.entries()) {
        await f.until(
          (items) => (items.at(-1)?.data.version ?? 0) >= version,
          `subscriber ${i} to catch up`,
          30_000,
        );
        expect(
          f.items.map((x) => x.data.version),
          `subscriber ${i} (${clients[i]!.nodes.join('→')})`,
        ).toEqual(expected);
        f.stop();
      }
    },
  );

  it(
    'kill -9 of the leading worker mid-import: the scheduler leader moves, and its imports finish once on the other worker',
    { timeout: 240_000 },
    async () => {
      const FILES = 8;
      const ROWS = 2_000;
      const owner = token(ownerToken);
      const csv =
        'Email,Category,Status,Amount,Created At\n' +
        Array.from(
          { length: ROWS },
          (_, i) => `${org.owner.email},c${i % 7},active,${i}.25,2026-01-02T10:00:00Z\n`,
        ).join('');
      const importIds: string[] = [];
      for (let i = 0; i < FILES; i++) {
        const reserved = await call<{ importId: string; uploadUrl: string }>(lb(), 'imports.createUpload', {
          type: 'mutation',
          auth: owner,
          input: { filename: `part-${i}.csv`, size: Buffer.byteLength(csv) },
        });
        expect(reserved.ok, reserved.error).toBe(true);
        // The signed upload URL names the app's public origin; the balancer stands in for it.
        const u = new URL(reserved.data!.uploadUrl);
        const put = await fetch(`${lb()}${u.pathname}${u.search}`, { method: 'PUT', body: csv });
        expect(put.status).toBe(201);
        importIds.push(reserved.data!.importId);
      }

      const queue = fx.deps.queue;
      const redis = queue.redis;
      const leaderKey = queue.keys.leader('queue');
      const leaderId = await redis.get(leaderKey);
      const leader = fleet.workers.find((w) => w.workerId === leaderId);
      const other = fleet.workers.find((w) => w !== leader)!;
      expect(
        leader,
        `leader ${leaderId} among ${fleet.workers.map((w) => w.workerId).join(', ')}`,
      ).toBeDefined();

      const started = await call<{ batchId: string }>(lb(), 'imports.startBatch', {
        type: 'mutation',
        auth: owner,
        input: { importIds },
      });
      expect(started.ok, started.error).toBe(true);
      // Kill the leader while it is running an import (its heartbeat lists the jobs it runs).
      let running: WorkerInfo['running'] = [];
      await waitFor(
        async () => {
          const raw = await redis.hget(queue.keys.workers(), leader!.workerId);
          running = raw
            ? (JSON.parse(raw) as WorkerInfo).running.filter((j) => j.name.startsWith('imports.'))
            : [];
          return running.length > 0;
        },
        'the leader to run an import',
        60_000,
      );
      await leader!.kill();

      // Another worker takes the lead within the leader key's lifetime (3 s in the test settings).
      await waitFor(
        async () => (await redis.get(leaderKey)) === other.workerId,
        'the other worker to lead',
        20_000,
      );

      // Read in the database, not through the API: polling as the owner would spend the owner's `api` limit.
      const batch = () => withDbScope(fx.deps.em, org.id, (em) => batchSummary(em, started.data!.batchId));
      const deadline = Date.now() + 180_000;
      while ((await batch()).finished < FILES) {
        if (Date.now() > deadline) throw new Error(`batch unfinished: ${JSON.stringify(await batch())}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(await batch()).toMatchObject({ files: FILES, completed: FILES, failed: 0, rows: FILES * ROWS });
      // The effect counted in the database: every row of every file exactly once, although some of them were
      // being written by the worker that died.
      const records = await withDbScope(fx.deps.em, org.id, (em) => em.count(BusinessRecord, {}));
      expect(records).toBe(FILES * ROWS);
      // The jobs the dead worker held ran again elsewhere and completed.
      for (const job of running) expect((await queue.index.get(job.id))?.status, job.name).toBe('completed');
      process.stdout.write(
        `fleet worker kill -9: leader ${leader!.workerId} held ${running.length} import job(s); ${records} rows imported\n`,
      );
    },
  );
});
