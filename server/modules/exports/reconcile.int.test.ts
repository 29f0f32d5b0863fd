import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { callerAs, createOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { DataExport } from './export.entity.ts';
import { reconcileExports } from './exports.reconcile.ts';
import { purgeExpiredExports } from './exports.sweep.ts';

// Issue 18.3: after Redis lost its data, accepted exports stayed `queued` for ever, blocked identical requests, and
// an hour later the same request answered 500 (the partial unique index). No worker runs until the last test, so
// jobs stay where the test puts them.

let env: TestEnv;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-reconcile-'));
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir });
});
afterAll(async () => {
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

const row = (orgId: string, id: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.findOneOrFail(DataExport, { id }, { refresh: true }));

/** What a Redis restart without persistence does to a queue: bee's job hash and lists are gone. */
async function loseQueue(queue: string): Promise<void> {
  const k = (key: string) => env.deps.queue.keys.beeKey(queue, key);
  await env.deps.queue.redis.del(k('jobs'), k('waiting'), k('active'), k('delayed'));
}

async function backdate(orgId: string, id: string, ms: number): Promise<void> {
  await withDbScope(env.deps.em, orgId, (em) =>
    em.nativeUpdate(DataExport, { id }, { createdAt: new Date(Date.now() - ms) }),
  );
}

describe('exports reconciled with the queue', () => {
  it('a queued export whose job is still queued is left alone', async () => {
    const org = await createOrg(env.deps);
    const { export: e } = await (await callerAs(env.deps, org.owner)).exports.request({});
    const { jobId } = await row(org.id, e.id);
    expect(jobId).toBeTruthy();
    const r = await reconcileExports(env.deps, { graceMs: 0 });
    expect(r.requeued).not.toContain(e.id);
    expect((await row(org.id, e.id)).jobId).toBe(jobId);
  });

  it('an export whose job Redis lost is queued again once, and runs once', async () => {
    const org = await createOrg(env.deps);
    const { export: e } = await (await callerAs(env.deps, org.owner)).exports.request({});
    const { jobId } = await row(org.id, e.id);
    await loseQueue(e.queue);
    expect(await env.deps.queue.hasJob(e.queue, jobId!)).toBe(false);

    const first = await reconcileExports(env.deps, { graceMs: 0 });
    expect(first.requeued).toContain(e.id);
    const requeued = await row(org.id, e.id);
    expect(requeued.status).toBe('queued');
    expect(requeued.jobId).not.toBe(jobId);
    expect(await env.deps.queue.hasJob(e.queue, requeued.jobId!)).toBe(true);
    // A second pass finds the new job in the queue: nothing is queued twice.
    const second = await reconcileExports(env.deps, { graceMs: 0 });
    expect(second.requeued).not.toContain(e.id);
    expect((await row(org.id, e.id)).jobId).toBe(requeued.jobId);

    const worker = new Worker(env.deps.queue, { queues: ['high', 'default', 'low'], concurrency: 1 });
    await worker.start();
    try {
      for (let i = 0; i < 300 && (await row(org.id, e.id)).status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await worker.stop(1_000);
    }
    expect((await row(org.id, e.id)).status).toBe('completed');
    // Exactly one run of the export job completed: the lost one never ran, the requeued one ran once.
    const runs = await env.deps.queue.index.list('completed', {
      offset: 0,
      limit: 100,
      tag: `export:${e.id}`,
    });
    expect(runs.items.filter((j) => j.name === 'exports.run' && j.status === 'completed')).toHaveLength(1);
  });

  it('one too old to run again fails with a clear reason', async () => {
    const org = await createOrg(env.deps);
    const { export: e } = await (await callerAs(env.deps, org.owner)).exports.request({});
    await loseQueue(e.queue);
    await backdate(org.id, e.id, 7 * 3_600_000);
    const r = await reconcileExports(env.deps, { graceMs: 0 });
    expect(r.failed).toContain(e.id);
    const failed = await row(org.id, e.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/lost from the queue/i);
  });

  it('an identical request while an old export is still queued gets that export back, not a 500', async () => {
    const org = await createOrg(env.deps);
    const caller = await callerAs(env.deps, org.owner);
    const { export: e } = await caller.exports.request({});
    await backdate(org.id, e.id, 2 * 3_600_000);
    const again = await caller.exports.request({});
    expect(again.duplicate).toBe(true);
    expect(again.export.id).toBe(e.id);
  });

  it('the sweep deletes the files of expired exports by their expiry (a lost purge job), once, and keeps the rest', async () => {
    const org = await createOrg(env.deps);
    const caller = await callerAs(env.deps, org.owner);
    const completed = async (statuses: ('active' | 'cancelled')[], expiresInMs: number) => {
      const { export: e } = await caller.exports.request({ statuses });
      const key = `exports/${org.id}/${e.id}.csv`;
      await env.deps.storage.put(key, 'Id\n');
      // As the job leaves it; no purge job is queued for it here (as if Redis had lost it).
      await withDbScope(env.deps.em, org.id, (em) =>
        em.nativeUpdate(
          DataExport,
          { id: e.id },
          {
            status: 'completed',
            fileKey: key,
            finishedAt: new Date(),
            expiresAt: new Date(Date.now() + expiresInMs),
          },
        ),
      );
      return { id: e.id, key };
    };
    const expired = await completed(['active'], -1_000);
    const valid = await completed(['cancelled'], 3_600_000);

    const purged = await purgeExpiredExports(env.deps);
    expect(purged).toContain(expired.id);
    expect(purged).not.toContain(valid.id);
    expect(await env.deps.storage.head(expired.key)).toBeNull();
    expect((await row(org.id, expired.id)).fileKey).toBeNull();
    expect(await env.deps.storage.head(valid.key)).toBeTruthy();
    expect((await row(org.id, valid.id)).fileKey).toBe(valid.key);
    expect(await purgeExpiredExports(env.deps)).not.toContain(expired.id);
  });
});
