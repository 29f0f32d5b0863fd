import { randomBytes } from 'node:crypto';
import type { LogContext } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiToken } from '../../../modules/auth/api-token.entity.ts';
import { Document } from '../../../modules/documents/document.entity.ts';
import { entities } from '../../../modules/entities.ts';
import { addMember, callerAs, createOrg, tokenFor, type TestOrg } from '../../../test/factories.ts';
import { createTestEnv, deleteKeys, type TestEnv } from '../../../test/harness.ts';
import { adminUrl, TEST_REDIS_URL } from '../../../test/env.ts';
import { startPostgres, type OwnPostgres } from '../../../test/own-postgres.ts';
import { startReplica, type OwnReplica } from '../../../test/own-replica.ts';
import { until } from '../../../test/until.ts';
import { runHealthChecks } from '../../health/health.ts';
import { jobDefiner } from '../../queue/definition.ts';
import { JobRegistry } from '../../queue/registry.ts';
import { mergeSettings, queueSettingsFor } from '../../queue/settings.ts';
import { QueueSystem } from '../../queue/system.ts';
import { Worker } from '../../queue/worker.ts';
import { withDbScope, type Em } from '../context.ts';
import { createOrm, replicaSetOf } from '../orm.ts';
import { lsnKey } from './position.ts';
import { primaryPosition, readPositionForJob, withJobReadRouting } from './read-your-writes.ts';
import type { ReplicaSet } from './replica-set.ts';

// Issue 23, items 1–3: a real primary and a streaming replica of the test's own (initdb, pg_basebackup -R), two Keel
// deps instances on them sharing one Redis key prefix, as two API processes would. `recovery_min_apply_delay` on the
// replica holds back replay, so a read that reached the replica cannot see a write that just committed: what a read
// returns shows where it ran, and the statements each server received are counted at the client.

let primary: OwnPostgres;
let replica: OwnReplica;
let a: TestEnv;
let b: TestEnv;
let org: TestOrg;
const prefix = `keel:test:rr:${randomBytes(4).toString('hex')}:`;
let replicaOverrides: Record<string, string>;

/** Statements on `documents` per server, counted where MikroORM logs each statement with its connection. */
function countDocumentStatements(env: TestEnv) {
  const counts = { primary: 0, replica: 0 };
  const logger = env.deps.orm.config.getLogger();
  const logQuery = logger.logQuery.bind(logger);
  logger.logQuery = (context: { query: string } & LogContext) => {
    if (context.took !== undefined && /\bdocuments\b/.test(context.query)) {
      if (context.connection?.type === 'read') counts.replica += 1;
      else if (context.connection?.type === 'write') counts.primary += 1;
    }
    logQuery(context);
  };
  return counts;
}

const replicasOf = (env: TestEnv): ReplicaSet => replicaSetOf(env.deps.orm)!;

async function inRotation(env: TestEnv, healthy: boolean) {
  await until(
    () => replicasOf(env).snapshot()[0]?.healthy === healthy,
    `the replica ${healthy ? 'in' : 'out of'} rotation`,
    30_000,
  );
}

async function writeDocument(em: Em, ownerId: string, title: string): Promise<string> {
  const doc = em.create(Document, { organization: org.id, owner: ownerId, title, content: '' });
  await em.flush();
  return doc.id;
}

beforeAll(async () => {
  primary = await startPostgres();
  const databaseUrl = adminUrl(primary.url, 'keel');
  const orm = await createOrm({ databaseUrl, pgliteDir: '', entities, poolMax: 2 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  replica = await startReplica(primary);
  replicaOverrides = {
    DATABASE_URL: databaseUrl,
    DATABASE_REPLICA_URLS: replica.urlOf('keel'),
    DATABASE_REPLICA_CHECK_MS: '200',
    DATABASE_REPLICA_MAX_LAG_MS: '30000',
    KEY_PREFIX: prefix,
  };
  a = await createTestEnv(replicaOverrides);
  b = await createTestEnv(replicaOverrides);
  org = await createOrg(a.deps);
}, 180_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
  await replica?.destroy();
  await primary?.destroy();
}, 120_000);

describe('read replicas with read-your-writes', () => {
  it('routes reads outside a transaction to the replica, writes and transactions to the primary', async () => {
    await inRotation(a, true);
    const at = (em: Em, type: 'read' | 'write') =>
      em
        .getConnection(type)
        .execute<{ standby: boolean }[]>('select pg_is_in_recovery() as standby')
        .then((rows) => rows[0]?.standby);
    await a.deps.readYourWrites.run(`user:${org.owner.id}`, () =>
      withDbScope(a.deps.em, org.id, async (em) => {
        expect(await at(em, 'read')).toBe(true);
        expect(await at(em, 'write')).toBe(false);
        expect(
          await em.transactional((tx) =>
            tx.execute<{ standby: boolean }[]>('select pg_is_in_recovery() as standby'),
          ),
        ).toEqual([{ standby: false }]);
      }),
    );
    // Outside a routed caller (scripts, the outbox relay, anonymous calls) every read is the primary's.
    await withDbScope(a.deps.em, org.id, async (em) => expect(await at(em, 'read')).toBe(false));
  });

  it('a writer reads its write at once, in this process and another; a reader who did not write reads the replica', async () => {
    const reader = await addMember(a.deps, org.id, 'member');
    const countsA = countDocumentStatements(a);
    const countsB = countDocumentStatements(b);
    await replica.setApplyDelay(2000);
    try {
      const writerHere = await callerAs(a.deps, org.owner);
      const writerThere = await callerAs(b.deps, org.owner);
      const readerHere = await callerAs(a.deps, reader);
      for (let i = 0; i < 3; i++) {
        const { id } = await writerHere.documents.create({ title: `mine ${i}`, public: true });
        expect((await writerHere.documents.get({ id })).title).toBe(`mine ${i}`);
        expect((await writerThere.documents.get({ id })).title).toBe(`mine ${i}`);
        const before = countsA.replica;
        // Replay is held back 2 s: the reader's read went to the replica, which has not got the document yet.
        await expect(readerHere.documents.get({ id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
        expect(countsA.replica).toBeGreaterThan(before);
      }
      expect(countsB.replica).toBe(0);
      expect(countsB.primary).toBeGreaterThan(0);
    } finally {
      await replica.setApplyDelay(0);
    }
  });

  it('a job dispatched right after a write reads the write, though the replica has not replayed it', async () => {
    const seen: (string | null)[] = [];
    const defineJob = jobDefiner<unknown>();
    const readBack = defineJob({
      name: 'replicas.read-back',
      payload: z.object({ id: z.string() }),
      handle: async ({ id }, ctx) => {
        const doc = await ctx.em.findOne(Document, id);
        seen.push(doc?.title ?? null);
      },
    });
    const system = new QueueSystem({
      config: { ...a.config, keyPrefix: `${prefix}rrjobs:` },
      redis: a.deps.redis.get('queue'),
      em: a.deps.em,
      logger: a.deps.logger,
      registry: new JobRegistry([readBack]),
      settings: mergeSettings(queueSettingsFor('test')),
    });
    const worker = new Worker(system, { queues: ['default'], concurrency: 1, leader: false });
    await worker.start();
    await replica.setApplyDelay(2000);
    try {
      const id = await a.deps.readYourWrites.run(`user:${org.owner.id}`, () =>
        withDbScope(a.deps.em, org.id, async (em) => {
          const id = await writeDocument(em, org.owner.id, 'for the job');
          // From its first write on, the call's own reads go to the primary too.
          expect(await em.getConnection('read').execute('select pg_is_in_recovery() as standby')).toEqual([
            { standby: false },
          ]);
          await system.dispatch(readBack, { id }, { organizationId: org.id });
          return id;
        }),
      );
      await until(() => seen.length === 1, 'the job to run', 30_000);
      expect(seen).toEqual(['for the job']);
      // The same read with no position in the envelope would have gone to the replica and found nothing.
      const unpinned = await withJobReadRouting(lsnKey(0n), () =>
        withDbScope(a.deps.em, org.id, (em) => em.findOne(Document, id)),
      );
      expect(unpinned).toBeNull();
    } finally {
      await replica.setApplyDelay(0);
      await worker.stop(1_000);
      await system.close();
    }
  });

  it('decides per read: a position one replica has not replayed never goes there, whatever was read before', async () => {
    await replica.setApplyDelay(2000);
    try {
      const rp = await a.deps.readYourWrites.run(`user:${org.owner.id}`, () =>
        withDbScope(a.deps.em, org.id, async (em) => {
          await writeDocument(em, org.owner.id, 'positioned');
          return readPositionForJob(a.deps.em);
        }),
      );
      const reads = replicasOf(a).reads;
      const before = { ...reads };
      await withJobReadRouting(rp, () =>
        withDbScope(a.deps.em, org.id, async (em) => {
          for (let i = 0; i < 5; i++) expect(await em.count(Document, { title: 'positioned' })).toBe(1);
        }),
      );
      expect(reads.primary - before.primary).toBe(5);
      expect(reads.replica - before.replica).toBe(0);
      // Once the replica has replayed it, the same position reads there.
      await until(
        () => replicasOf(a).snapshot()[0]!.replayed >= BigInt(`0x${rp}`),
        'the replica to replay the write',
        30_000,
      );
      const after = { ...reads };
      await withJobReadRouting(rp, () =>
        withDbScope(a.deps.em, org.id, async (em) => {
          expect(await em.count(Document, { title: 'positioned' })).toBe(1);
        }),
      );
      expect(reads.replica - after.replica).toBe(1);
    } finally {
      await replica.setApplyDelay(0);
    }
  });

  it('a stopped replica leaves the rotation without failing a read, and comes back when it restarts', async () => {
    await inRotation(a, true);
    const reader = await callerAs(a.deps, org.owner);
    const failures: unknown[] = [];
    let reads = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        await reader.documents.list({}).then(
          () => (reads += 1),
          (err: unknown) => failures.push(err),
        );
      }
    })();
    try {
      await until(() => reads > 5, 'reads', 30_000);
      await replica.stop('fast');
      await inRotation(a, false);
      const report = await runHealthChecks(a.deps.healthChecks, { version: 'test' });
      const check = report.checks['postgres-replica-1:lag']?.[0];
      expect(check).toMatchObject({
        status: 'warn',
        componentId: expect.stringMatching(/^127\.0\.0\.1:\d+\/keel$/),
      });
      expect(check?.output).toMatch(/out of rotation: down/);
      expect(report.status).not.toBe('fail');
      const whileDown = reads;
      await until(() => reads > whileDown + 5, 'reads while the replica is down', 30_000);
      // A process that starts while its replica is down starts all the same, reading from the primary.
      const late = await createTestEnv(replicaOverrides);
      try {
        expect(replicasOf(late).snapshot()[0]).toMatchObject({ healthy: false });
        const lateReader = await callerAs(late.deps, org.owner);
        expect((await lateReader.documents.list({})).items.length).toBeGreaterThan(0);
      } finally {
        await late.close();
      }
      await replica.start();
      await inRotation(a, true);
    } finally {
      running = false;
      await traffic;
    }
    expect(failures).toEqual([]);
    const before = replicasOf(a).reads.replica;
    await reader.documents.list({});
    expect(replicasOf(a).reads.replica).toBeGreaterThan(before);
  });

  it('a replica lagging over the limit leaves the rotation and /readyz warns; back under it, it returns', async () => {
    const strict = await createTestEnv({
      DATABASE_URL: adminUrl(primary.url, 'keel'),
      DATABASE_REPLICA_URLS: replica.urlOf('keel'),
      DATABASE_REPLICA_CHECK_MS: '200',
      DATABASE_REPLICA_MAX_LAG_MS: '500',
    });
    try {
      await inRotation(strict, true);
      await replica.setApplyDelay(3000);
      // Commits keep coming, so the replica's last replayed commit falls further behind.
      let writing = true;
      const writes = (async () => {
        while (writing) {
          await withDbScope(strict.deps.em, org.id, (em) => writeDocument(em, org.owner.id, 'lag'));
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        await inRotation(strict, false);
        expect(replicasOf(strict).snapshot()[0]?.reason).toMatch(/lags \d+ ms/);
        const report = await runHealthChecks(strict.deps.healthChecks, { version: 'test' });
        const lag = report.checks['postgres-replica-1:lag']?.[0];
        expect(lag).toMatchObject({ status: 'warn', observedUnit: 'ms' });
        expect(lag?.observedValue).toBeGreaterThan(500);
        const metrics = await strict.deps.observability.prom.exposition();
        expect(metrics).toMatch(/db_replica_in_rotation\{replica="127\.0\.0\.1:\d+\/keel"\} 0/);
        expect(metrics).toMatch(/db_replica_lag_seconds\{replica="127\.0\.0\.1:\d+\/keel"\} \d/);
      } finally {
        writing = false;
        await writes;
        await replica.setApplyDelay(0);
      }
      await inRotation(strict, true);
    } finally {
      await strict.close();
    }
  });

  it('row-level security and the tenant filter hold on the replica as on the primary', async () => {
    const other = await createOrg(a.deps, 'Other');
    await tokenFor(a.deps, org.id, org.owner);
    await tokenFor(a.deps, other.id, other.owner);
    await inRotation(a, true);
    // Wait until the replica has the tokens just made.
    const position = await primaryPosition(a.deps.em);
    await until(() => replicasOf(a).snapshot()[0]!.replayed >= position, 'the replica to catch up', 30_000);
    await withJobReadRouting(lsnKey(0n), () =>
      withDbScope(a.deps.em, org.id, async (em) => {
        const read = em.getConnection('read');
        const rows = await read.execute<{ organization_id: string; standby: boolean }[]>(
          'select organization_id, pg_is_in_recovery() as standby from api_tokens',
        );
        expect(rows.length).toBeGreaterThan(0);
        expect(rows.every((r) => r.standby && r.organization_id === org.id)).toBe(true);
        // Naming the other tenant's rows does not reach them: the policy filters, not the query.
        const named = await read.execute<{ n: string }[]>(
          'select count(*)::text as n from api_tokens where organization_id = ?',
          [other.id],
        );
        expect(named).toEqual([{ n: '0' }]);
        const tokens = await em.find(ApiToken, {});
        expect(tokens.length).toBeGreaterThan(0);
        expect(tokens.every((t) => t.organization.id === org.id)).toBe(true);
        // A QueryBuilder whose filters were forgotten is still held by the replica's policy.
        const raw = await em.createQueryBuilder(ApiToken).select('*').execute('all');
        expect(raw.length).toBeGreaterThan(0);
        expect((raw as unknown as { organization: string }[]).every((r) => r.organization === org.id)).toBe(
          true,
        );
      }),
    );
  });
});
