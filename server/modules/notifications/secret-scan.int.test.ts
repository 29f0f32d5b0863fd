import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sign as signCookie } from '@fastify/cookie';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../../shared/schemas/jobs.ts';
import { withDbScope } from '../../platform/db/context.ts';
import {
  startSmtpCapture,
  type CapturedMail,
  type SmtpCapture,
} from '../../platform/mail/testing/smtp-capture.ts';
import { createOrm } from '../../platform/db/orm.ts';
import { adminUrl, TEST_PG_URL, TEST_REDIS_URL } from '../../test/env.ts';
import { createStaff, PASSWORD } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { appRouter } from '../../trpc/router.ts';
import { entities } from '../entities.ts';
import { FailedJob } from '../jobs/failed-job.entity.ts';
import { DataImport } from '../imports/import.entity.ts';
import { startKeel, type KeelProcess } from './testing/keel-process.ts';

// Issue 17, finding 4: no secret minted during a realistic run — session ids, an API token, a registration
// confirmation token, an invitation token, a password-reset token, signed download and upload URLs — may be found
// in Redis (job payloads, the job index, anything else), in PostgreSQL (failed_jobs and every other table), in any log line the API and worker processes
// wrote, or in any answer of the operations console. The run goes through the real CLI processes (`keel serve`,
// `keel work`), a real SMTP server that refuses each message's first delivery (so every mail job fails once and is
// retried), and an import whose file vanished (a job that fails for good and lands in failed_jobs).

const APP_URL = 'http://localhost:3000';
const ORIGIN = new URL(APP_URL).origin;

let env: TestEnv;
let database: string;
let smtp: SmtpCapture;
let storageDir: string;
let api: KeelProcess;
let worker: KeelProcess;

/** What the run minted, by name, for the failure message. */
const secrets = new Map<string, string>();
const opsAnswers: { path: string; input: unknown; status: number; body: string }[] = [];

beforeAll(async () => {
  const firstDelivery = new Set<string>();
  smtp = await startSmtpCapture({
    // Each distinct message (recipient + subject) is refused once: its mail job fails and is retried.
    refuse: (m) => {
      const key = `${m.to.join(',')}|${m.subject}`;
      if (firstDelivery.has(key)) return false;
      firstDelivery.add(key);
      return true;
    },
  });
  storageDir = await mkdtemp(path.join(os.tmpdir(), 'keel-secret-scan-'));
  // A database of its own: the scan reads every table, and the run's failed jobs and operator actions must not
  // appear in the other test files' (which share the run's database).
  database = `keel_scan_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = adminUrl(TEST_PG_URL, database);
  const orm = await createOrm({ databaseUrl, pgliteDir: '', entities, poolMax: 1 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  env = await createTestEnv({
    DATABASE_URL: databaseUrl,
    SMTP_URL: smtp.url,
    STORAGE_LOCAL_DIR: storageDir,
    APP_URL,
  });
  const processEnv = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    KEY_PREFIX: env.config.keyPrefix,
    APP_URL,
    SESSION_SECRET: env.config.sessionSecret,
    SMTP_URL: smtp.url,
    STORAGE_LOCAL_DIR: storageDir,
    // Everything the processes can say.
    LOG_LEVEL: 'trace',
    LOG_PRETTY: 'false',
    DB_POOL_MAX: '4',
  };
  [api, worker] = await Promise.all([startKeel('serve', processEnv), startKeel('work', processEnv)]);
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await env?.close();
  await smtp?.close();
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
  if (database) {
    const admin = await createOrm({
      databaseUrl: adminUrl(TEST_PG_URL, 'postgres'),
      pgliteDir: '',
      entities,
      poolMax: 1,
    });
    await admin.em.getConnection().execute(`drop database if exists "${database}" with (force)`);
    await admin.close(true);
  }
});

// ------------------------------------------------------------------------------------------------ HTTP client

type Auth = { cookie: string } | { token: string } | null;

interface Answer {
  status: number;
  body: string;
  data: unknown;
  setCookie: string[];
}

/** One tRPC call over HTTP as the web app (cookie + Origin) or a script (bearer token) makes it. */
async function call(kind: 'query' | 'mutation', proc: string, input: unknown, auth: Auth): Promise<Answer> {
  const headers: Record<string, string> = { origin: ORIGIN };
  if (auth && 'cookie' in auth) headers.cookie = auth.cookie;
  if (auth && 'token' in auth) headers.authorization = `Bearer ${auth.token}`;
  const envelope = JSON.stringify({ json: input });
  const res =
    kind === 'query'
      ? await fetch(
          `${api.url}/trpc/${proc}${input === undefined ? '' : `?input=${encodeURIComponent(envelope)}`}`,
          {
            headers,
          },
        )
      : await fetch(`${api.url}/trpc/${proc}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: input === undefined ? '{}' : envelope,
        });
  const body = await res.text();
  const parsed = JSON.parse(body) as { result?: { data?: { json?: unknown } } };
  return { status: res.status, body, data: parsed.result?.data?.json, setCookie: res.headers.getSetCookie() };
}

async function ok<T>(kind: 'query' | 'mutation', proc: string, input: unknown, auth: Auth): Promise<T> {
  const a = await call(kind, proc, input, auth);
  if (a.status !== 200) throw new Error(`${proc} answered ${a.status}: ${a.body}`);
  return a.data as T;
}

/** The session cookie a response set, and the session id inside it (the signed value's first part). */
function sessionFrom(a: Answer, name: string): { cookie: string } {
  const raw = a.setCookie.find((c) => c.startsWith('keel_session='))?.split(';')[0];
  if (!raw) throw new Error(`no session cookie in ${a.body}`);
  const value = decodeURIComponent(raw.slice('keel_session='.length));
  secrets.set(`session id (${name})`, value.split('.')[0]!);
  return { cookie: raw };
}

/** A link as the server would be reached: same path and query, on the API process. */
const onServer = (link: string) => {
  const u = new URL(link);
  return `${api.url}${u.pathname}${u.search}`;
};

async function until<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mailTo = (address: string, subject: RegExp) =>
  until(
    () => smtp.messages.find((m) => m.to.includes(address.toLowerCase()) && subject.test(m.subject)),
    `mail to ${address} matching ${subject}`,
  ).catch(async (err: unknown) => {
    // What the SMTP server took and what the worker did with mail jobs, to tell a slow queue from a lost job.
    const mailLines = worker.lines
      .filter((l) => l.includes('"queue":"mail"') || l.includes('worker exiting'))
      .slice(-20);
    const subjects = smtp.messages.map((m) => `${m.to.join(',')}: ${m.subject}`);
    const counts = await env.deps.queue.admin.counts().catch((e: unknown) => String(e));
    throw new Error(
      [
        String(err),
        `mail received: ${subjects.join(' | ')}`,
        `queues: ${JSON.stringify(counts)}`,
        `worker mail lines:\n${mailLines.join('\n')}`,
        `worker's last lines:\n${worker.lines.slice(-15).join('\n')}`,
        `API's last lines:\n${api.lines.slice(-10).join('\n')}`,
      ].join('\n'),
    );
  });

function linkIn(mail: CapturedMail, pattern: RegExp): string {
  const m = pattern.exec(mail.decoded);
  if (!m) throw new Error(`no link matching ${pattern} in ${mail.decoded}`);
  return m[0].replace(/&amp;/g, '&');
}

// ------------------------------------------------------------------------------------------------ the scan

/** Every value under the run's key prefix (key names included), whatever its type. */
async function redisDump(): Promise<string[]> {
  const redis = env.deps.redis.get('queue');
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.config.keyPrefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      out.push(key);
      const type = await redis.type(key);
      if (type === 'string') out.push((await redis.get(key)) ?? '');
      else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
      else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return out;
}

/** Rows of every table of the run's database that contain one of the secrets, as `table: row`. */
async function databaseHits(values: string[]): Promise<string[]> {
  return withDbScope(env.deps.em, undefined, async (em) => {
    const conn = em.getConnection();
    const tables = await conn.execute<{ name: string }[]>(
      `select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`,
    );
    const patterns = values.map((v) => `%${v.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    const hits: string[] = [];
    for (const { name } of tables) {
      const rows = await conn.execute<{ row: string }[]>(
        `select t::text as row from ${name} t where t::text like any(array[?]::text[])`,
        [patterns],
      );
      hits.push(...rows.map((r) => `${name}: ${r.row.slice(0, 300)}`));
    }
    return hits;
  });
}

/**
 * Calls every query procedure of the operations console with every input (from a pool built from what the run
 * produced: job ids, batch ids, organization ids, queue names, list names) that its schema accepts, keeping the raw
 * answers. Several staff sessions share the calls, so the per-user API limit refuses none.
 */
async function readOpsConsole(staff: { cookie: string }[], ids: { organizations: string[] }) {
  const procedures = Object.entries(appRouter._def.procedures as Record<string, unknown>)
    .map(([name, p]) => ({
      name,
      def: (p as { _def: { type: string; inputs: { safeParse(v: unknown): { success: boolean } }[] } })._def,
    }))
    .filter((p) => p.name.startsWith('ops.') && p.def.type === 'query');
  let turn = 0;
  const ask = async (name: string, input: unknown) => {
    const a = await call('query', name, input, staff[turn++ % staff.length]!);
    opsAnswers.push({ path: name, input, status: a.status, body: a.body });
    return a;
  };
  // Lists first: their answers name the jobs and batches the per-id procedures are then asked about.
  const lists: unknown[] = [
    undefined,
    {},
    ...(['recent', 'completed', 'failed'] as const).map((list) => ({ list, limit: 100 })),
    ...QUEUES.map((queue) => ({ queue, limit: 100 })),
    ...QUEUES.map((queue) => ({ queue })),
    { organizationIds: ids.organizations, userIds: [] },
    { limit: 100 },
    ...(['org:req', 'user:req', 'org:slow', 'user:slow'] as const).map((kind) => ({ kind })),
    ...ids.organizations.map((organizationId) => ({ key: 'dashboard.analytics', organizationId })),
  ];
  const byId = procedures.filter((p) => /\.get$|\.members$|\.schedules$/.test(p.name));
  for (const p of procedures.filter((q) => !byId.includes(q))) {
    for (const input of lists) {
      const accepts =
        p.def.inputs.length === 0 ? input === undefined : p.def.inputs[0]!.safeParse(input).success;
      if (accepts) await ask(p.name, input);
    }
  }
  const jobIds = new Set<string>();
  const batchIds = new Set<string>();
  for (const a of opsAnswers) {
    for (const m of a.body.matchAll(/"id":"((?:chain:)?[0-9a-f-]{36}(?::(?:\d+|catch))?)"/g)) {
      if (a.path.startsWith('ops.jobs.')) jobIds.add(m[1]!);
      if (a.path.startsWith('ops.batches.')) batchIds.add(m[1]!);
    }
  }
  const idsFor = (name: string) =>
    name.startsWith('ops.jobs.')
      ? [...jobIds]
      : name.startsWith('ops.batches.')
        ? [...batchIds]
        : ids.organizations;
  for (const p of byId) for (const id of idsFor(p.name)) await ask(p.name, { id });
  return procedures.map((p) => p.name);
}

describe('secrets minted during a full run', () => {
  it('appear in no Redis key, database row, log line or operations console answer', async () => {
    const suffix = randomBytes(3).toString('hex');
    const ownerEmail = `owner-${suffix}@example.test`;
    const inviteeEmail = `invitee-${suffix}@example.test`;

    // Sign-up (a confirmation link by mail) and sign-in: two browser sessions.
    await ok(
      'mutation',
      'auth.register',
      { email: ownerEmail, password: PASSWORD, name: 'Owner', organizationName: `Scan ${suffix}` },
      null,
    );
    const confirmLink = linkIn(
      await mailTo(ownerEmail, /^Confirm your email/),
      /http:\/\/localhost:3000\/register\/confirm\?token=[A-Za-z0-9_-]{43}/,
    );
    const confirmToken = new URL(confirmLink).searchParams.get('token')!;
    secrets.set('registration confirmation token', confirmToken);
    const registered = await call('mutation', 'auth.confirmRegistration', { token: confirmToken }, null);
    expect(registered.status).toBe(200);
    sessionFrom(registered, 'sign-up');
    const organizationId = (registered.data as { organization: { id: string } }).organization.id;
    const owner = sessionFrom(
      await call('mutation', 'auth.signIn', { email: ownerEmail, password: PASSWORD }, null),
      'sign-in',
    );

    // An API token, used once.
    const created = await ok<{ secret: string }>(
      'mutation',
      'tokens.create',
      { name: 'ci', abilities: ['read', 'write'] },
      owner,
    );
    secrets.set('API token', created.secret);
    await ok('query', 'auth.me', undefined, { token: created.secret });

    // An invitation: previewed by link (a GET whose query string carries the token) and accepted by a newcomer.
    await ok('mutation', 'invitations.create', { email: inviteeEmail, role: 'member' }, owner);
    const invitationLink = linkIn(
      await mailTo(inviteeEmail, /invited you/),
      /http:\/\/localhost:3000\/invitations\/accept\?token=[A-Za-z0-9_-]{43}/,
    );
    const invitationToken = new URL(invitationLink).searchParams.get('token')!;
    secrets.set('invitation token', invitationToken);
    await ok('query', 'invitations.preview', { token: invitationToken }, null);
    sessionFrom(
      await call(
        'mutation',
        'invitations.acceptAsNewUser',
        { token: invitationToken, name: 'New Comer', password: PASSWORD },
        null,
      ),
      'invitee',
    );

    // An export, its ready mail and a download through the emailed link.
    await ok('mutation', 'exports.request', {}, owner);
    const exportLink = linkIn(
      await mailTo(ownerEmail, /is ready/),
      /http:\/\/localhost:3000\/files\/[^\s"<]+/,
    );
    secrets.set('export URL signature', new URL(exportLink).searchParams.get('signature')!);
    expect((await fetch(onServer(exportLink))).status).toBe(200);

    // An import with row errors: a signed upload URL, and a failure mail with a signed report link.
    const csv = `Email,Category,Status,Amount,Created At\n${ownerEmail},ok,active,not-a-number,\n`;
    const upload = await ok<{ importId: string; uploadUrl: string }>(
      'mutation',
      'imports.createUpload',
      { filename: 'bad.csv', size: Buffer.byteLength(csv) },
      owner,
    );
    secrets.set('upload URL signature', new URL(upload.uploadUrl).searchParams.get('signature')!);
    expect((await fetch(onServer(upload.uploadUrl), { method: 'PUT', body: csv })).status).toBe(201);
    await ok('mutation', 'imports.start', { importId: upload.importId }, owner);
    const reportLink = linkIn(
      await mailTo(ownerEmail, /Import of bad\.csv failed/),
      /http:\/\/localhost:3000\/files\/[^\s"<]+/,
    );
    secrets.set('import report URL signature', new URL(reportLink).searchParams.get('signature')!);

    // A batch of two files (one with a bad row), summed up in one mail.
    const batchFiles = await Promise.all(
      ['a.csv', 'b.csv'].map(async (filename, i) => {
        const body = `Email,Category,Status,Amount,Created At\n${ownerEmail},ok,active,${i ? 'x' : '1.00'},\n`;
        const u = await ok<{ importId: string; uploadUrl: string }>(
          'mutation',
          'imports.createUpload',
          { filename, size: Buffer.byteLength(body) },
          owner,
        );
        secrets.set(
          `upload URL signature (${filename})`,
          new URL(u.uploadUrl).searchParams.get('signature')!,
        );
        expect((await fetch(onServer(u.uploadUrl), { method: 'PUT', body })).status).toBe(201);
        return u.importId;
      }),
    );
    await ok('mutation', 'imports.startBatch', { importIds: batchFiles }, owner);
    await mailTo(ownerEmail, /^Batch import/);

    // Staff sessions for the console (created like sign-in does, in the sessions store).
    const staffUsers = await Promise.all([1, 2, 3, 4].map(() => createStaff(env.deps)));
    const staff = await Promise.all(
      staffUsers.map(async (u, i) => {
        const id = await env.deps.sessions.create(u.id);
        secrets.set(`session id (staff ${i + 1})`, id);
        return { cookie: `keel_session=${encodeURIComponent(signCookie(id, env.config.sessionSecret))}` };
      }),
    );

    // A job that fails for good: the default queue is paused while an import starts, its file disappears, and
    // the queue resumes — each attempt of the validation step finds no file.
    const lost = `Email,Category,Status,Amount,Created At\n${ownerEmail},ok,active,1.00,\n`;
    const lostUpload = await ok<{ importId: string; uploadUrl: string }>(
      'mutation',
      'imports.createUpload',
      { filename: 'lost.csv', size: Buffer.byteLength(lost) },
      owner,
    );
    expect((await fetch(onServer(lostUpload.uploadUrl), { method: 'PUT', body: lost })).status).toBe(201);
    await ok('mutation', 'ops.queues.pause', { queue: 'default' }, staff[0]!);
    // Workers learn of a pause at their next heartbeat: until then the import could start and read the file.
    type WorkerQueues = { supervisors: { queues: { queue: string; paused: boolean }[] }[] }[];
    await until(async () => {
      const workers = await ok<WorkerQueues>('query', 'ops.workers.list', undefined, staff[0]!);
      const queues = workers.flatMap((w) => w.supervisors.flatMap((sv) => sv.queues));
      return (
        queues.some((q) => q.queue === 'default') && queues.every((q) => q.queue !== 'default' || q.paused)
      );
    }, 'the worker to pause the default queue');
    await ok('mutation', 'imports.start', { importId: lostUpload.importId }, owner);
    const dir = path.join(storageDir, 'imports', organizationId, lostUpload.importId);
    for (const f of await readdir(dir)) await unlink(path.join(dir, f));
    await ok('mutation', 'ops.queues.resume', { queue: 'default' }, staff[0]!);

    // A password reset: requested (and once for an address without an account), completed through the link.
    await ok('mutation', 'passwordReset.request', { email: `nobody-${suffix}@example.test` }, null);
    await ok('mutation', 'passwordReset.request', { email: ownerEmail }, null);
    const resetLink = linkIn(
      await mailTo(ownerEmail, /Reset your Keel password/),
      /http:\/\/localhost:3000\/reset-password\?token=[A-Za-z0-9_-]{43}/,
    );
    const resetToken = new URL(resetLink).searchParams.get('token')!;
    secrets.set('password-reset token', resetToken);
    await ok(
      'mutation',
      'passwordReset.complete',
      { token: resetToken, password: 'a brand new passphrase' },
      null,
    );

    await until(
      () =>
        withDbScope(env.deps.em, undefined, (em) =>
          em.findOne(FailedJob, { name: { $like: 'imports.%' }, organization: organizationId }),
        ),
      'the lost import to fail for good',
      120_000,
    );
    await until(
      () =>
        withDbScope(env.deps.em, organizationId, (em) =>
          em.findOne(DataImport, { id: lostUpload.importId, status: 'failed' }),
        ),
      'the lost import to be marked failed',
    );
    await mailTo(ownerEmail, /Import of lost\.csv failed/);
    // Every message was refused once before it was delivered: every mail job failed once and was retried.
    expect(smtp.refused.length).toBeGreaterThanOrEqual(smtp.messages.length);

    const procedures = await readOpsConsole(staff, { organizations: [organizationId] });
    for (const name of procedures) {
      expect(
        opsAnswers.some((a) => a.path === name),
        `${name} was asked`,
      ).toBe(true);
    }
    expect(opsAnswers.filter((a) => a.status >= 500 || a.status === 429)).toEqual([]);

    await api.stop();
    await worker.stop();

    const values = [...secrets.values()];
    expect(values.every((v) => v.length >= 32)).toBe(true);
    const found: string[] = [];
    const look = (where: string, texts: string[]) => {
      for (const text of texts)
        for (const [name, value] of secrets)
          if (text.includes(value)) found.push(`${name} in ${where}: ${text.slice(0, 300)}`);
    };
    const dump = await redisDump();
    // What was scanned holds what it should: the mail jobs' index records, the processes' lines about the run.
    expect(dump.some((t) => t.includes('mail:export-ready'))).toBe(true);
    expect(api.lines.some((l) => l.includes(organizationId))).toBe(true);
    look('Redis', dump);
    found.push(...(await databaseHits(values)).map((h) => `a secret in PostgreSQL ${h}`));
    look('the API log', api.lines);
    look('the worker log', worker.lines);
    look(
      'the operations console',
      opsAnswers.map((a) => `${a.path} ${JSON.stringify(a.input)} → ${a.body}`),
    );
    expect(found).toEqual([]);
    // The scan saw what it was meant to: log lines of both processes and jobs of every kind in the console.
    expect(api.lines.length).toBeGreaterThan(20);
    expect(worker.lines.some((l) => l.includes('"job":"mail.send"'))).toBe(true);
  }, 300_000);
});
