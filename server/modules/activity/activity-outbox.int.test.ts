import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { callerWithToken, createOrg, tokenFor } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { LogCapture } from '../../test/http.ts';
import { eventually, freePort, isStopped, startRedis, stopRedis } from '../../test/own-redis.ts';
import { OutboxMessage } from '../realtime/outbox.entity.ts';
import { sweepOutbox } from '../realtime/outbox.ts';
import { clientOf, collect, waitFor, type TestClient } from '../realtime/testing/cluster.ts';
import { activityChannel } from './activity.publisher.ts';

// Issue 18 (gap 6): activity rows were announced after their flush, straight to Redis: one committed while Redis
// was down was never announced. They now go through the realtime outbox, as document changes do. This file stops
// and restarts a redis-server of its own, with an append-only file so its event logs survive the restart (a
// subscriber resuming from its lastEventId is replayed what it missed, not told to resync).

let port: number;
let dir: string;
let redis: ChildProcess;
let env: TestEnv;
let server: RunningServer;
const clients: TestClient[] = [];
const logs = new LogCapture();
const persistent = () => ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-activity-outbox-'));
  port = await freePort();
  redis = await startRedis(port, persistent());
  env = await createTestEnv(
    { REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn' },
    { logStream: logs },
  );
  server = await startServer(env.deps);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  if (redis && isStopped(redis)) redis = await startRedis(port, persistent());
  await server?.close();
  await env?.close();
  if (redis) await stopRedis(redis);
  await rm(dir, { recursive: true, force: true });
});

type Item = { id: string; data: ActivityOutput };

describe('activity announced through the outbox', () => {
  it('an activity committed while Redis is down reaches a subscriber resuming from its lastEventId, exactly once', async () => {
    const org = await createOrg(env.deps);
    const token = await tokenFor(env.deps, org.id, org.owner);
    const owner = callerWithToken(env.deps, token);
    const ws = clientOf(server.url, { auth: { token }, wsUrl: server.wsUrl });
    clients.push(ws);
    const waiting = () =>
      withDbScope(env.deps.em, org.id, (em) =>
        em.count(OutboxMessage, {
          keySpace: env.deps.realtime.log.keySpace,
          channel: activityChannel(org.id),
        }),
      );

    // Redis up: announced at commit, nothing left in the outbox.
    const first = collect<Item>((h) => ws.trpc.activity.onNew.subscribe(undefined, h));
    await waitFor(() => first.started, 'the subscription');
    const doc = await owner.documents.create({ title: 'Before', content: 'v1' });
    const [created] = await first.until((items) => items.some((i) => i.data.action === 'document.created'));
    first.stop();
    expect(await eventually(async () => (await waiting()) === 0)).toBe(true);

    await stopRedis(redis);
    const failedRelays = () =>
      logs.lines.filter((l) => l.msg === 'event not published yet; kept in the outbox');
    const before = failedRelays().length;
    // One write in an explicit transaction (the update), one whose flush commits on its own (the create).
    await owner.documents.update({ id: doc.id, baseVersion: 1, content: 'v2' });
    const second = await owner.documents.create({ title: 'While Redis was down', content: 'x' });
    // Committed, and waiting: every relay attempt made while Redis was down has given up (none is left to publish
    // behind the sweep's back once Redis is back).
    expect(await waiting()).toBe(2);
    await waitFor(
      // Per write: the activity's relay, and the document's own (its channels) for the update and the create.
      () => failedRelays().length - before >= 4,
      'the relays to give up',
      30_000,
    );
    const committed = await withDbScope(env.deps.em, org.id, (em) =>
      em
        .getConnection()
        .execute<{ id: string; action: string }[]>(
          `select id::text, action from activity_log where organization_id = ? and id > ? order by id`,
          [org.id, created!.data.id],
        ),
    );
    expect(committed.map((r) => r.action)).toEqual(['document.updated', 'document.created']);

    redis = await startRedis(port, persistent());
    // The leader's `realtime:outbox` task.
    const swept = await eventually(async () => {
      await sweepOutbox(env.deps.em, { log: env.deps.realtime.log, logger: env.deps.logger }, { graceMs: 0 });
      return (await waiting()) === 0;
    });
    expect(swept).toBe(true);

    const resumed = collect<Item>((h) => ws.trpc.activity.onNew.subscribe({ lastEventId: created!.id }, h));
    await waitFor(() => resumed.started, 'the resumed subscription');
    // A marker written after the sweep, in an explicit transaction (relayed at its commit, no sweep runs here): once
    // it arrives, everything before it has arrived too.
    await owner.documents.update({ id: second.id, baseVersion: 1, content: 'marker' });
    const items = await resumed.until(
      (all) => all.some((i) => i.data.action === 'document.updated' && i.data.subjectId === second.id),
      'the marker',
    );
    resumed.stop();
    const ids = items.map((i) => i.data.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(items.map((i) => [i.data.action, i.data.subjectId])).toEqual([
      ['document.updated', doc.id],
      ['document.created', second.id],
      ['document.updated', second.id],
    ]);
    expect(await waiting()).toBe(0);
    expect(items.slice(0, 2).map((i) => String(i.data.id))).toEqual(committed.map((r) => r.id));
    expect(items[0]!.data.userName).toBe('Owner');
  }, 120_000);
});
