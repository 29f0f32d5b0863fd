import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { callerWithToken, createOrg, tokenFor, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { eventually, freePort, isStopped, startRedis, stopRedis } from '../../test/own-redis.ts';
import { documentChannel, orgDocumentsChannel } from '../documents/documents.service.ts';
import { OutboxMessage } from './outbox.entity.ts';
import { stageMessages, sweepOutbox, type OutboxDeps } from './outbox.ts';
import { orgEventsChannel } from './realtime.service.ts';
import { failureCode } from '../../test/errors.ts';

// Announcements of document changes go through the outbox: a change committed while Redis is down is saved and
// announced once Redis is back. This file stops and restarts a redis-server of its own.

let port: number;
let redis: ChildProcess;
let env: TestEnv;
let org: TestOrg;
let owner: ReturnType<typeof callerWithToken>;
let deps: OutboxDeps;
const RETENTION = { maxLen: 1000, maxAgeMs: 3600_000 };

beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
  org = await createOrg(env.deps);
  owner = callerWithToken(env.deps, await tokenFor(env.deps, org.id, org.owner));
  deps = { log: env.deps.realtime.log, logger: env.deps.logger };
});

afterAll(async () => {
  if (redis && isStopped(redis)) redis = await startRedis(port);
  await env?.close();
  if (redis) await stopRedis(redis);
});

/** Messages of this environment still waiting in the outbox (the database is shared with other test files). */
const waiting = () =>
  withDbScope(env.deps.em, org.id, (em) =>
    em.count(OutboxMessage, { keySpace: env.deps.realtime.log.keySpace }),
  );

/** Stages messages the way a service does: in a tenant scope, written by its flush. */
const stage = (channel: string, values: number[], organizationId = org.id) =>
  withDbScope(env.deps.em, organizationId, async (em) => {
    stageMessages(
      em,
      deps.log,
      organizationId,
      values.map((data) => ({ channel, data, retention: RETENTION })),
    );
    await em.flush();
  });

/** What a channel's log holds, oldest first. */
async function logged<T>(channel: string): Promise<T[]> {
  const entries = await env.deps.redis.get('publish').xrange(env.deps.realtime.log.key(channel), '-', '+');
  return entries.map(([, fields]) => JSON.parse(fields[1]!) as T);
}

/** Sweeps until the outbox of this environment is empty (the first sweeps may meet a Redis still reconnecting). */
async function sweepAll(): Promise<number> {
  let sent = 0;
  const emptied = await eventually(async () => {
    sent += await sweepOutbox(env.deps.em, deps, { graceMs: 0 });
    return (await waiting()) === 0;
  });
  expect(emptied, 'the outbox emptied').toBe(true);
  return sent;
}

describe('the realtime outbox', () => {
  it('publishes at commit and keeps nothing while Redis is up', async () => {
    const doc = await owner.documents.create({ title: 'Up', content: 'v1' });
    await owner.documents.update({ id: doc.id, baseVersion: 1, content: 'v2' });
    const versions = (await logged<{ version: number }>(documentChannel(org.id, doc.id))).map(
      (e) => e.version,
    );
    expect(versions).toEqual([1, 2]);
    expect(await waiting()).toBe(0);
  });

  it('saves changes made while Redis is down and announces them once it is back, in order and once', async () => {
    const doc = await owner.documents.create({ title: 'Down', content: 'v1' });
    await stopRedis(redis);

    expect((await owner.documents.update({ id: doc.id, baseVersion: 1, content: 'v2' })).version).toBe(2);
    expect(
      (await owner.documents.update({ id: doc.id, baseVersion: 2, title: 'Down, then up' })).version,
    ).toBe(3);
    // Per save: the document's channel, the organization's documents channel, its events (a public document), and
    // the save's activity (activity.onNew).
    expect(await waiting()).toBe(8);
    // A refused save stages nothing: its messages were in the transaction that rolled back.
    expect(await failureCode(owner.documents.update({ id: doc.id, baseVersion: 1, content: 'stale' }))).toBe(
      'CONFLICT',
    );
    expect(await waiting()).toBe(8);
    expect((await owner.documents.get({ id: doc.id })).content).toBe('v2');

    redis = await startRedis(port);
    expect(await sweepAll()).toBe(8);
    // The restarted Redis kept nothing, so its logs hold exactly what the sweep published.
    const updates = await logged<{ version: number; changes: { content?: string; title?: string } }>(
      documentChannel(org.id, doc.id),
    );
    expect(updates.map((u) => [u.version, u.changes])).toEqual([
      [2, { content: 'v2' }],
      [3, { title: 'Down, then up' }],
    ]);
    expect((await logged<{ version: number }>(orgDocumentsChannel(org.id))).map((u) => u.version)).toEqual([
      2, 3,
    ]);
    expect((await logged<{ type: string }>(orgEventsChannel(org.id))).map((e) => e.type)).toEqual([
      'document.updated',
      'document.updated',
    ]);

    expect(await sweepOutbox(env.deps.em, deps, { graceMs: 0 })).toBe(0);
    expect(await logged(documentChannel(org.id, doc.id))).toHaveLength(2);
  });

  it('leaves recent messages to the relay that staged them', async () => {
    await stage('outbox:recent', [1]);
    expect(await sweepOutbox(env.deps.em, deps, { graceMs: 60_000 })).toBe(0);
    expect(await logged('outbox:recent')).toEqual([]);
    expect(await sweepAll()).toBe(1);
    expect(await logged('outbox:recent')).toEqual([1]);
  });

  it('holds tenant data: a tenant scope reads only its own messages, even through raw SQL', async () => {
    const other = await createOrg(env.deps);
    await stage('outbox:mine', [1]);
    await stage('outbox:theirs', [2], other.id);
    const seen = await withDbScope(env.deps.em, org.id, (em) =>
      em.transactional((tx) =>
        tx.execute<{ organization_id: string; channel: string }[]>(
          'select organization_id, channel from realtime_outbox',
        ),
      ),
    );
    expect(seen.map((r) => r.channel)).toContain('outbox:mine');
    expect(seen.every((r) => r.organization_id === org.id)).toBe(true);
    expect(await sweepAll()).toBe(2);
  });

  it('sweepers running at once publish every message exactly once', async () => {
    const n = 60;
    await stage(
      'outbox:race',
      Array.from({ length: n }, (_, i) => i),
    );
    const counts = await Promise.all(
      [1, 2, 3].map(() => sweepOutbox(env.deps.em, deps, { graceMs: 0, batch: 7 })),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
    const published = await logged<number>('outbox:race');
    expect(published).toHaveLength(n);
    expect(new Set(published).size).toBe(n);
    expect(await waiting()).toBe(0);
  });
});
