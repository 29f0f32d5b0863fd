// Schema-valid input that used to reach PostgreSQL (or a job) and fail there is refused at the edge, typed
// (issue 17, finding 9); a job whose input can never succeed fails once, saying why.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../platform/db/context.ts';
import { Worker } from '../platform/queue/worker.ts';
import { Document } from '../modules/documents/document.entity.ts';
import { DataExport } from '../modules/exports/export.entity.ts';
import { EXPORT_JOB, UNUSABLE_FILTERS } from '../modules/exports/exports.service.ts';
import { createOrg, tokenFor, type TestOrg } from '../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../test/harness.ts';
import { sendRaw, trpcErrorOf, type RawResponse } from '../test/http.ts';

let env: TestEnv;
let server: RunningServer;
let org: TestOrg;
let auth: Record<string, string>;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-edge-'));
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir });
  server = await startServer(env.deps);
  org = await createOrg(env.deps, 'Edge Co');
  auth = { authorization: `Bearer ${await tokenFor(env.deps, org.id, org.owner, ['read', 'write'])}` };
}, 60_000);
afterAll(async () => {
  await server?.close();
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Raw JSON text, so escapes like \ud800 reach the server exactly as a hostile client writes them. */
const mutation = (p: string, json: string) =>
  sendRaw(server.url, 'POST', `/trpc/${p}`, { body: `{"json":${json}}`, headers: auth });
const query = (p: string, json: string) =>
  sendRaw(server.url, 'GET', `/trpc/${p}?input=${encodeURIComponent(`{"json":${json}}`)}`, { headers: auth });

function refused(res: RawResponse, field: string) {
  expect(res.status, res.text).toBe(400);
  const error = trpcErrorOf(res);
  expect(error?.data.appCode).toBe('VALIDATION_FAILED');
  expect(Object.keys(error?.data.fieldErrors ?? {})).toContain(field);
}

describe('documents.list cursors', () => {
  it('a cursor not made by documents.list is a 400 on the cursor field, never a query', async () => {
    for (const cursor of [
      '0|1',
      '2020-01-01|x',
      '2020-01-01T00:00:00.000Z|not-a-uuid',
      '2020-13-45T00:00:00.000Z|00000000-0000-4000-8000-000000000000',
      '|',
      "2020-01-01T00:00:00.000Z|00000000-0000-4000-8000-000000000000' or 1=1 --",
    ]) {
      refused(await query('documents.list', JSON.stringify({ limit: 2, cursor })), 'cursor');
    }
  });

  it('the cursors it hands out page through every document', async () => {
    for (const title of ['one', 'two', 'three']) {
      expect((await mutation('documents.create', JSON.stringify({ title }))).status).toBe(200);
    }
    const titles: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await query('documents.list', JSON.stringify({ limit: 2, cursor }));
      expect(res.status, res.text).toBe(200);
      const page = (
        res.json as { result: { data: { json: { items: { title: string }[]; nextCursor: string | null } } } }
      ).result.data.json;
      titles.push(...page.items.map((d) => d.title));
      cursor = page.nextCursor;
    } while (cursor);
    expect(titles.sort()).toEqual(['one', 'three', 'two']);
  });
});

describe('lone UTF-16 surrogates', () => {
  it('in any string or key of any input are a 400 naming the field, and nothing is written', async () => {
    const count = () => withDbScope(env.deps.em, org.id, (em) => em.count(Document, {}));
    const before = await count();
    refused(await mutation('documents.create', '{"title":"ok \\ud800 here"}'), 'title');
    refused(await mutation('documents.create', '{"title":"ok","content":"tail \\udfff"}'), 'content');
    refused(await mutation('documents.create', '{"title":"\\udc00\\ud800"}'), 'title');
    refused(await query('documents.list', '{"limit":2,"cursor":"\\ud800"}'), 'cursor');
    refused(await mutation('documents.create', '{"title":"ok","\\ud800":1}'), '_');
    expect(await count()).toBe(before);
    // A well-formed pair (an emoji) is text like any other.
    const ok = await mutation('documents.create', '{"title":"launch \\ud83d\\ude80"}');
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('dates', () => {
  it('exports.request refuses dates PostgreSQL cannot hold, and queues nothing', async () => {
    const exports = () => withDbScope(env.deps.em, org.id, (em) => em.count(DataExport, {}));
    const before = await exports();
    refused(await mutation('exports.request', '{"from":"+275760-09-13T00:00:00.000Z"}'), 'from');
    refused(await mutation('exports.request', '{"to":"-271821-04-20T00:00:00.000Z"}'), 'to');
    refused(await mutation('exports.request', '{"from":"0001-01-01T00:00:00.000Z"}'), 'from');
    refused(await mutation('exports.request', '{"from":8640000000000000}'), 'from');
    expect(await exports()).toBe(before);
  });

  it('an export whose stored filters can never be queried fails once, saying why', async () => {
    const row = await withDbScope(env.deps.em, org.id, async (em) => {
      const r = em.create(DataExport, {
        organization: org.id,
        requestedBy: org.owner.id,
        filters: { from: '+275760-09-13T00:00:00.000Z', to: null, statuses: null },
        filtersHash: 'unusable',
        status: 'queued',
        queue: 'low',
      });
      await em.flush();
      return r;
    });
    const { id } = await env.deps.queue.dispatch(
      EXPORT_JOB,
      { exportId: row.id, organizationId: org.id },
      { queue: 'low', organizationId: org.id },
    );
    const worker = new Worker(env.deps.queue, { queues: ['low'], concurrency: 1, leader: false });
    await worker.start();
    try {
      const end = Date.now() + 30_000;
      let status = 'queued';
      while (status !== 'failed' && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        status = (
          await withDbScope(env.deps.em, org.id, (em) =>
            em.findOneOrFail(DataExport, { id: row.id }, { refresh: true }),
          )
        ).status;
      }
      const failed = await withDbScope(env.deps.em, org.id, (em) =>
        em.findOneOrFail(DataExport, { id: row.id }, { refresh: true }),
      );
      expect(failed).toMatchObject({ status: 'failed', error: UNUSABLE_FILTERS });
      const job = await env.deps.queue.index.get(id!);
      expect(job?.attempts).toBe(1);
      expect(job?.status).toBe('failed');
    } finally {
      await worker.stop(2_000);
    }
  });
});
