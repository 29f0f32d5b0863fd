import { createHash, randomBytes } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { REALTIME_CLOSE } from '../../../shared/schemas/realtime.ts';
import { withDbScope } from '../../platform/db/context.ts';
import type { RealtimeLimits } from '../../platform/realtime/connections.ts';
import {
  addMember,
  createOrg,
  createStaff,
  PASSWORD,
  tokenFor,
  type TestOrg,
  type TestUser,
} from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { PasswordResetToken } from '../auth/password-reset.entity.ts';
import { documentChannel, DOCUMENT_RETENTION } from '../documents/documents.service.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { notifyUser, reportJobProgress } from './realtime.service.ts';
import {
  clientOf,
  collect,
  signInCookie,
  startProcess,
  waitFor,
  type ServerProcess,
  type TestClient,
} from './testing/cluster.ts';

const LIMITS: Partial<RealtimeLimits> = {
  presenceTtlMs: 1500,
  presenceHeartbeatMs: 300,
  maxSubscriptionsPerConnection: 5,
  messagesPerSecond: 20,
  messageBurst: 40,
  softBufferedBytes: 64 * 1024,
  maxBufferedBytes: 256 * 1024,
  slowConsumerMs: 1000,
  shutdownGraceMs: 1000,
  metricsIntervalMs: 300,
  signalsPerSecond: 5,
  signalBurst: 10,
};

let env: TestEnv;
let A: ServerProcess;
let B: ServerProcess;
let org: TestOrg;
let other: TestOrg;
let member: TestUser;
let ownerToken: string;
let memberToken: string;
let otherToken: string;
const clients: TestClient[] = [];

/** A client (by API token, or by a browser session) whose HTTP calls go to `http` and subscriptions to `ws`. */
function client(
  auth: string | { cookie: string; origin: string },
  http: ServerProcess,
  ws: ServerProcess | (() => string) = http,
  organizationId?: string,
) {
  const c = clientOf(http.url, {
    auth: typeof auth === 'string' ? { token: auth } : auth,
    wsUrl: typeof ws === 'function' ? ws : ws.wsUrl,
    ...(organizationId ? { organizationId } : {}),
  });
  clients.push(c);
  return c.trpc;
}

type Tracked<T> = { id: string; data: T };

const appCode = (err: unknown) =>
  err instanceof TRPCClientError ? (err.data as { appCode?: string } | undefined)?.appCode : undefined;

beforeAll(async () => {
  env = await createTestEnv();
  env.deps.realtime.configure(LIMITS);
  [A, B] = await Promise.all([startProcess(env.config, LIMITS), startProcess(env.config, LIMITS)]);
  org = await createOrg(env.deps, 'Realtime Org');
  other = await createOrg(env.deps, 'Other Org');
  member = await addMember(env.deps, org.id, 'member');
  ownerToken = await tokenFor(env.deps, org.id, org.owner, ['read', 'write', 'tokens:manage']);
  memberToken = await tokenFor(env.deps, org.id, member, ['read', 'write', 'tokens:manage'], 'member');
  otherToken = await tokenFor(env.deps, other.id, other.owner);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled([A?.stop(), B?.stop()]);
  await env?.close();
});

async function newDocument(token = ownerToken, isPublic = true) {
  return client(token, A).documents.create.mutate({ title: 'Plan', content: 'v1', public: isPublic });
}

describe('documents.updates across processes', () => {
  it('delivers an update saved through process A to a subscriber connected to process B', async () => {
    const doc = await newDocument();
    const updates = collect<Tracked<{ version: number; authorId: string; changes: { content?: string } }>>(
      (h) => client(memberToken, B).documents.updates.subscribe({ documentId: doc.id }, h),
    );
    await waitFor(() => updates.started, 'subscription start');
    await client(ownerToken, A).documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'v2' });
    const [got] = await updates.until((i) => i.length >= 1, 'the update');
    expect(got!.data).toMatchObject({ version: 2, authorId: org.owner.id, changes: { content: 'v2' } });
    expect(got!.id).toMatch(/^\d+-\d+$/);
    updates.stop();
  });

  it('after a disconnect, replays exactly the 20 missed events in order, none twice, then continues live', async () => {
    const doc = await newDocument();
    const author = client(ownerToken, A);
    const first = clientOf(B.url, { auth: { token: memberToken }, wsUrl: B.wsUrl });
    const before = collect<Tracked<{ version: number }>>((h) =>
      first.trpc.documents.updates.subscribe({ documentId: doc.id }, h),
    );
    await waitFor(() => before.started, 'subscription start');
    await author.documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'x2' });
    const [seen] = await before.until((i) => i.length === 1, 'the first update');
    await first.close();

    for (let v = 2; v <= 21; v++) {
      await author.documents.update.mutate({ id: doc.id, baseVersion: v, content: `x${v + 1}` });
    }
    const after = collect<Tracked<{ version: number }>>((h) =>
      client(memberToken, B).documents.updates.subscribe({ documentId: doc.id, lastEventId: seen!.id }, h),
    );
    await after.until((i) => i.length >= 20, 'the 20 missed updates');
    await author.documents.update.mutate({ id: doc.id, baseVersion: 22, content: 'live' });
    const all = await after.until((i) => i.length >= 21, 'the live update');
    await new Promise((r) => setTimeout(r, 300));
    expect(after.items.map((i) => i.data.version)).toEqual([...Array(21).keys()].map((i) => i + 3));
    expect(new Set(all.map((i) => i.id)).size).toBe(21);
    after.stop();
  });

  it('of two saves on the same base version, one succeeds and the other gets CONFLICT with the latest version', async () => {
    const doc = await newDocument();
    const results = await Promise.allSettled([
      client(ownerToken, A).documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'from A' }),
      client(memberToken, B).documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'from B' }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    const err = failed[0]!.reason as TRPCClientError<never>;
    expect(appCode(err)).toBe('CONFLICT');
    expect(err.message).toContain('latest version is 2');
    expect(
      (err.data as unknown as { fieldErrors?: Record<string, string[]> }).fieldErrors?.baseVersion?.[0],
    ).toContain('2');
    const latest = await client(ownerToken, A).documents.get.query({ id: doc.id });
    expect(latest.version).toBe(2);
  });

  it('sends private documents to their owner only, also on the organization-wide feed', async () => {
    const memberFeed = collect<Tracked<{ documentId: string; type: string }>>((h) =>
      client(memberToken, B).documents.updates.subscribe({}, h),
    );
    const ownerFeed = collect<Tracked<{ documentId: string }>>((h) =>
      client(ownerToken, A).documents.updates.subscribe({}, h),
    );
    await waitFor(() => memberFeed.started && ownerFeed.started, 'subscription start');
    const secret = await newDocument(ownerToken, false);
    const open = await newDocument(ownerToken, true);
    await ownerFeed.until((i) => i.some((e) => e.data.documentId === open.id), 'the public document');
    await memberFeed.until((i) => i.some((e) => e.data.documentId === open.id), 'the public document');
    expect(ownerFeed.items.map((e) => e.data.documentId)).toContain(secret.id);
    expect(memberFeed.items.map((e) => e.data.documentId)).not.toContain(secret.id);

    // Subscribing to it directly is refused as if it did not exist.
    const direct = collect((h) =>
      client(memberToken, B).documents.updates.subscribe({ documentId: secret.id }, h),
    );
    expect(appCode(await direct.untilError())).toBe('NOT_FOUND');
    memberFeed.stop();
    ownerFeed.stop();
  });
});

describe('documents.presence across processes', () => {
  type PresenceItem = Tracked<
    | { type: 'snapshot'; users: { userId: string; tabs: number }[] }
    | { type: 'join' | 'leave'; userId: string }
  >;
  const joins = (items: PresenceItem[], userId: string) =>
    items.filter((i) => i.data.type === 'join' && i.data.userId === userId).length;
  const leaves = (items: PresenceItem[], userId: string) =>
    items.filter((i) => i.data.type === 'leave' && i.data.userId === userId).length;

  it('two users on two processes see each other join and leave', async () => {
    const doc = await newDocument();
    const owner = collect<PresenceItem>((h) =>
      client(ownerToken, A).documents.presence.subscribe({ documentId: doc.id }, h),
    );
    await owner.until((i) => i[0]?.data.type === 'snapshot', 'the snapshot');
    const guest = collect<PresenceItem>((h) =>
      client(memberToken, B).documents.presence.subscribe({ documentId: doc.id, state: 'editing' }, h),
    );
    const [snap] = await guest.until((i) => i.length >= 1, 'the snapshot');
    expect(snap!.data.type === 'snapshot' && snap!.data.users.map((u) => u.userId).sort()).toEqual(
      [org.owner.id, member.id].sort(),
    );
    await owner.until((i) => joins(i, member.id) === 1, "the member's join");
    guest.stop();
    await owner.until((i) => leaves(i, member.id) === 1, "the member's leave");
    owner.stop();
  });

  it('shows three tabs of one user as one entry', async () => {
    const doc = await newDocument();
    const watcher = collect<PresenceItem>((h) =>
      client(ownerToken, A).documents.presence.subscribe({ documentId: doc.id }, h),
    );
    await watcher.until((i) => i.length >= 1, 'the snapshot');
    const tabs = [A, B, B].map((p) =>
      collect<PresenceItem>((h) =>
        client(memberToken, p).documents.presence.subscribe({ documentId: doc.id }, h),
      ),
    );
    for (const t of tabs) await t.until((i) => i.length >= 1, 'a tab snapshot');
    const late = collect<PresenceItem>((h) =>
      client(ownerToken, B).documents.presence.subscribe({ documentId: doc.id }, h),
    );
    const [snap] = await late.until((i) => i.length >= 1, 'the snapshot');
    expect(snap!.data).toEqual({
      type: 'snapshot',
      users: expect.arrayContaining([expect.objectContaining({ userId: member.id, tabs: 3 })]) as unknown,
    });
    expect(
      snap!.data.type === 'snapshot' && snap!.data.users.filter((u) => u.userId === member.id),
    ).toHaveLength(1);
    tabs[0]!.stop();
    tabs[1]!.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(joins(watcher.items, member.id)).toBe(1);
    expect(leaves(watcher.items, member.id)).toBe(0);
    tabs[2]!.stop();
    await watcher.until((i) => leaves(i, member.id) === 1, 'the leave of the last tab');
    watcher.stop();
    late.stop();
  });

  it('removes a tab whose process died without a goodbye once its heartbeats stop', async () => {
    const doc = await newDocument();
    const C = await startProcess(env.config, LIMITS);
    try {
      const watcher = collect<PresenceItem>((h) =>
        client(ownerToken, A).documents.presence.subscribe({ documentId: doc.id }, h),
      );
      await watcher.until((i) => i.length >= 1, 'the snapshot');
      const doomed = collect<PresenceItem>((h) =>
        client(memberToken, C).documents.presence.subscribe({ documentId: doc.id }, h),
      );
      await doomed.until((i) => i.length >= 1, 'the snapshot');
      await watcher.until((i) => joins(i, member.id) === 1, 'the join');
      await C.kill();
      doomed.stop();
      await watcher.until((i) => leaves(i, member.id) === 1, 'the leave after the heartbeat timeout');
      watcher.stop();
    } finally {
      await C.kill();
    }
  });
});

describe('auth that stays true', () => {
  it("refuses another organization's document and channel, and another user's notifications", async () => {
    const doc = await newDocument();
    const foreignDoc = collect((h) =>
      client(otherToken, B).documents.updates.subscribe({ documentId: doc.id }, h),
    );
    expect(appCode(await foreignDoc.untilError())).toBe('NOT_FOUND');
    const foreignPresence = collect((h) =>
      client(otherToken, B).documents.presence.subscribe({ documentId: doc.id }, h),
    );
    expect(appCode(await foreignPresence.untilError())).toBe('NOT_FOUND');
    const foreignOrg = collect((h) => client(otherToken, B, B, org.id).org.events.subscribe(undefined, h));
    expect(appCode(await foreignOrg.untilError())).toBe('NOT_A_MEMBER');
    const someoneElse = collect((h) =>
      client(ownerToken, B).user.notifications.subscribe({ userId: member.id }, h),
    );
    expect(appCode(await someoneElse.untilError())).toBe('ABILITY_MISSING');
  });

  it("delivers a user's notifications to that user only", async () => {
    const mine = collect<Tracked<{ title: string }>>((h) =>
      client(memberToken, B).user.notifications.subscribe(undefined, h),
    );
    const theirs = collect<Tracked<{ title: string }>>((h) =>
      client(ownerToken, A).user.notifications.subscribe({}, h),
    );
    await waitFor(() => mine.started && theirs.started, 'subscription start');
    await notifyUser(env.deps.realtime.log, member.id, { type: 'mention', title: 'You were mentioned' });
    await notifyUser(env.deps.realtime.log, org.owner.id, { type: 'mention', title: 'For the owner' });
    await mine.until((i) => i.length >= 1, 'the notification');
    await theirs.until((i) => i.length >= 1, 'the notification');
    expect(mine.items.map((i) => i.data.title)).toEqual(['You were mentioned']);
    expect(theirs.items.map((i) => i.data.title)).toEqual(['For the owner']);
    mine.stop();
    theirs.stop();
  });

  it('ends a live subscription when the membership behind it is removed', async () => {
    const doc = await newDocument();
    const leaver = await addMember(env.deps, org.id, 'member');
    const token = await tokenFor(env.deps, org.id, leaver, ['read'], 'member');
    const updates = collect((h) => client(token, B).documents.updates.subscribe({ documentId: doc.id }, h));
    const events = collect((h) => client(token, A).org.events.subscribe(undefined, h));
    await waitFor(() => updates.started && events.started, 'subscription start');
    await withDbScope(env.deps.em, org.id, async (em) => {
      em.remove(await em.findOneOrFail(Membership, { user: leaver.id }));
      await em.flush();
    });
    expect(appCode(await updates.untilError())).toBe('NOT_A_MEMBER');
    expect(appCode(await events.untilError())).toBe('NOT_A_MEMBER');
  });

  it('ends the subscriptions of a session when it signs out, and of every session when the password is reset', async () => {
    const user = await addMember(env.deps, org.id, 'member');
    const origin = env.config.appUrl;
    const signedIn = async (on: ServerProcess) => ({
      cookie: await signInCookie(on, origin, user.email, PASSWORD),
      origin,
    });
    const [first, second] = await Promise.all([signedIn(A), signedIn(B)]);
    const byFirst = collect((h) => client(first, A, B, org.id).org.events.subscribe(undefined, h));
    const bySecond = collect((h) => client(second, B, A, org.id).org.events.subscribe(undefined, h));
    await waitFor(() => byFirst.started && bySecond.started, 'subscription start');

    // Well before the periodic recheck (60 s): the sign-out itself ends them.
    await client(first, A).auth.signOut.mutate();
    expect(appCode(await byFirst.untilError())).toBe('SESSION_EXPIRED');
    expect(bySecond.errors).toEqual([]);

    const token = randomBytes(32).toString('base64url');
    const em = env.deps.em.fork();
    em.create(PasswordResetToken, {
      user: user.id,
      tokenHash: createHash('sha256').update(token).digest('hex'),
      expiresAt: new Date(Date.now() + 60_000),
    });
    await em.flush();
    await client(ownerToken, A).passwordReset.complete.mutate({
      token,
      password: 'a new password, long enough',
    });
    expect(appCode(await bySecond.untilError())).toBe('SESSION_EXPIRED');
  });

  it('ends a live subscription when its token is revoked, one by one or all at once', async () => {
    const one = await tokenFor(env.deps, org.id, member, ['read', 'tokens:manage'], 'member');
    const byOne = collect((h) => client(one, B).org.events.subscribe(undefined, h));
    await waitFor(() => byOne.started, 'subscription start');
    await client(one, A).tokens.revokeCurrent.mutate();
    expect(appCode(await byOne.untilError())).toBe('TOKEN_REVOKED');

    const user = await addMember(env.deps, org.id, 'member');
    const t1 = await tokenFor(env.deps, org.id, user, ['read', 'tokens:manage'], 'member');
    const t2 = await tokenFor(env.deps, org.id, user, ['read'], 'member');
    const s1 = collect((h) => client(t1, A).org.events.subscribe(undefined, h));
    const s2 = collect((h) => client(t2, B).jobs.progress.subscribe(undefined, h));
    await waitFor(() => s1.started && s2.started, 'subscription start');
    await client(t1, B).tokens.revokeAll.mutate();
    expect(appCode(await s1.untilError())).toBe('TOKEN_REVOKED');
    expect(appCode(await s2.untilError())).toBe('TOKEN_REVOKED');
  });

  it('refuses ops.metrics to non-staff, and streams samples of both processes to staff', async () => {
    const refused = collect((h) => client(ownerToken, A).ops.metrics.subscribe(undefined, h));
    expect(appCode(await refused.untilError())).toBe('STAFF_ONLY');
    const staff = await createStaff(env.deps);
    // Operations take a staff session; a staff member's API token is refused (issue 17, finding 1).
    const staffToken = await tokenFor(env.deps, org.id, staff, ['read']);
    const byToken = collect((h) => client(staffToken, A).ops.metrics.subscribe(undefined, h));
    expect(appCode(await byToken.untilError())).toBe('STAFF_ONLY');
    const origin = env.config.appUrl;
    const session = { cookie: await signInCookie(A, origin, staff.email, PASSWORD), origin };
    const metrics = collect<Tracked<{ process: string; connections: number }>>((h) =>
      client(session, A).ops.metrics.subscribe({ historySeconds: 5 }, h),
    );
    await metrics.until((i) => new Set(i.map((s) => s.data.process)).size >= 2, 'samples of two processes');
    metrics.stop();
  });
});

describe('limits', () => {
  it('refuses a WebSocket from a foreign Origin', async () => {
    const ws = new WebSocket(A.wsUrl, { origin: 'https://evil.example' });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
    });
    expect(status).toBe(403);
  });

  it('closes a connection that sends a frame over 64 KiB', async () => {
    const ws = new WebSocket(`${A.wsUrl}`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send('x'.repeat(70 * 1024));
    expect(await closed).toBe(REALTIME_CLOSE.FRAME_TOO_LARGE);
  });

  it('closes a connection that floods messages, with a clear reason', async () => {
    const ws = new WebSocket(`${A.wsUrl}`);
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<[number, string]>((r) =>
      ws.once('close', (code, reason) => r([code, reason.toString()])),
    );
    for (let i = 0; i < 200; i++) ws.send('PING');
    expect(await closed).toEqual([REALTIME_CLOSE.RATE_LIMITED, 'message rate limit exceeded']);
  });

  it('refuses more subscriptions per connection than the limit', async () => {
    const trpc = client(memberToken, B);
    const subs = [...Array(5).keys()].map(() => collect((h) => trpc.org.events.subscribe(undefined, h)));
    await waitFor(() => subs.every((s) => s.started), 'five subscriptions');
    const sixth = collect((h) => trpc.org.events.subscribe(undefined, h));
    expect(appCode(await sixth.untilError())).toBe('RATE_LIMITED');
    subs[0]!.stop();
    await new Promise((r) => setTimeout(r, 200));
    const again = collect((h) => trpc.org.events.subscribe(undefined, h));
    await waitFor(() => again.started, 'a subscription once one ended');
    for (const s of [...subs, again]) s.stop();
  });

  it('rate-limits client events per user and document, and delivers them to viewers without storing them', async () => {
    const doc = await newDocument();
    const viewer = collect<{ kind: string; userId: string }>((h) =>
      client(ownerToken, A).documents.signals.subscribe({ documentId: doc.id }, h),
    );
    await waitFor(() => viewer.started, 'subscription start');
    const sender = client(memberToken, B);
    const results: PromiseSettledResult<unknown>[] = [];
    for (let i = 0; i < 25; i++) {
      const [r] = await Promise.allSettled([
        sender.documents.signal.mutate({ documentId: doc.id, kind: 'cursor', data: { line: i } }),
      ]);
      results.push(r!);
    }
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(LIMITS.signalBurst);
    expect(refused.every((r) => appCode(r.reason) === 'RATE_LIMITED')).toBe(true);
    await viewer.until((i) => i.length >= 1, 'a signal');
    expect(viewer.items[0]).toMatchObject({ kind: 'cursor', userId: member.id });
    // A non-member cannot signal into the document.
    await expect(
      client(otherToken, A).documents.signal.mutate({ documentId: doc.id, kind: 'typing', data: {} }),
    ).rejects.toSatisfy((e) => appCode(e) === 'NOT_FOUND');
    viewer.stop();
  });

  it('drops a consumer that stops reading, with a clear close reason', async () => {
    const doc = await newDocument();
    const ws = new WebSocket(`${B.wsUrl}?connectionParams=1`);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ method: 'connectionParams', data: { token: memberToken } }));
    ws.send(
      JSON.stringify({
        id: 1,
        method: 'subscription',
        params: { path: 'documents.updates', input: { json: { documentId: doc.id } } },
      }),
    );
    await new Promise<void>((resolve) =>
      ws.on('message', (m: Buffer) => {
        if (m.toString().includes('"started"')) resolve();
      }),
    );
    const closed = new Promise<[number, string]>((r) =>
      ws.once('close', (code, reason) => r([code, reason.toString()])),
    );
    // Stop reading: the server's send buffer grows once the kernel's buffers are full.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'y'.repeat(40 * 1024);
    for (let v = 2; v < 150; v++) {
      await env.deps.realtime.log.publish(
        documentChannel(org.id, doc.id),
        {
          type: 'updated',
          documentId: doc.id,
          version: v,
          ownerId: org.owner.id,
          public: true,
          authorId: org.owner.id,
          authorName: 'Owner',
          changes: { content: big },
          contentOmitted: false,
          at: new Date().toISOString(),
        },
        DOCUMENT_RETENTION,
      );
    }
    // Long enough to count as slow (slowConsumerMs), short enough to read the close frame before the server gives
    // up on the handshake.
    await new Promise((r) => setTimeout(r, 1500));
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const [code, reason] = await closed;
    expect(code).toBe(REALTIME_CLOSE.SLOW_CONSUMER);
    expect(reason).toContain('reconnect with lastEventId');
    expect(reason).toMatch(/^slow consumer/);
  });

  it('coalesces job progress: a burst of updates arrives as a few, ending with the final state', async () => {
    const progress = collect<Tracked<{ jobId: string; status: string; processed: number | null }>>((h) =>
      client(memberToken, B).jobs.progress.subscribe({ jobId: 'export-1' }, h),
    );
    await waitFor(() => progress.started, 'subscription start');
    for (let n = 1; n <= 200; n++) {
      await reportJobProgress(env.deps.realtime, org.id, {
        jobId: 'export-1',
        kind: 'export',
        status: 'running',
        progress: n / 200,
        processed: n,
        total: 200,
        message: null,
      });
    }
    await reportJobProgress(env.deps.realtime, org.id, {
      jobId: 'export-1',
      kind: 'export',
      status: 'completed',
      progress: 1,
      processed: 200,
      total: 200,
      message: null,
    });
    await progress.until((i) => i.at(-1)?.data.status === 'completed', 'the completed state');
    expect(progress.items.length).toBeLessThan(50);
    const processed = progress.items.map((i) => i.data.processed ?? 0);
    expect([...processed].sort((a, b) => a - b)).toEqual(processed);
    progress.stop();
  });
});

describe('graceful shutdown', () => {
  it('asks clients to reconnect elsewhere; a resumed subscription misses nothing', async () => {
    const doc = await newDocument();
    const D = await startProcess(env.config, LIMITS);
    try {
      let target = D.wsUrl;
      const updates = collect<Tracked<{ version: number }>>((h) =>
        client(memberToken, A, () => target).documents.updates.subscribe({ documentId: doc.id }, h),
      );
      const raw = new WebSocket(D.wsUrl);
      const rawMessages: string[] = [];
      raw.on('message', (m: Buffer) => rawMessages.push(m.toString()));
      const rawClosed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
      await waitFor(() => updates.started && raw.readyState === WebSocket.OPEN, 'connections');
      const author = client(ownerToken, A);
      await author.documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'before' });
      await updates.until((i) => i.length === 1, 'the first update');

      target = B.wsUrl;
      const stopping = D.stop();
      for (let v = 2; v <= 6; v++)
        await author.documents.update.mutate({ id: doc.id, baseVersion: v, content: `${v}` });
      await stopping;
      expect(rawMessages).toContain(JSON.stringify({ id: null, method: 'reconnect' }));
      expect(await rawClosed).toBe(REALTIME_CLOSE.SERVER_RESTART);
      await updates.until((i) => i.length >= 6, 'the updates made during the restart');
      expect(updates.items.map((i) => i.data.version)).toEqual([2, 3, 4, 5, 6, 7]);
      updates.stop();
    } finally {
      await D.kill();
    }
  });
});
