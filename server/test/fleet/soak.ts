import { collect, type Collector } from '../../modules/realtime/testing/cluster.ts';
import { addMember, createOrg, PASSWORD, type TestUser } from '../factories.ts';
import { createFleetEnvironment, type FleetEnvironment } from './environment.ts';
import { call, signIn, type Auth } from './http.ts';
import { startKeel, type KeelProcess } from './keel-process.ts';
import { SoakRecorder, type RedisFamily, type Series } from './soak-measure.ts';
import { subscriber, type Subscriber } from './ws-client.ts';

// The soak (issue 18): a real `keel serve` and `keel work` (server/main.ts, production settings) and 20 clients
// acting as browser users for a while: they sign in (and out and in again), read, save their documents, hold live
// subscriptions (and reconnect them), request exports and run imports. Every call must succeed, every saved
// version must reach every subscriber of its document, every export and import must finish; meanwhile the
// recorder samples memory, Redis and tables for bench/soak.bench.ts and soak.int.test.ts to judge.
//
// Each client keeps within Keel's real limits, as a person would: about 35 calls a minute (`api`: 60), one
// sign-in every ~90 s from its own address (`login`: 5 a minute per IP; addresses are X-Forwarded-For values,
// as a proxy would send, TRUST_PROXY=1), and its organization's exports under 5 a minute.

export interface SoakOptions {
  durationMs: number;
  clients?: number;
  organizations?: number;
  sampleEveryMs?: number;
  log?: (line: string) => void;
}

export interface SoakCounters {
  calls: number;
  reads: number;
  saves: number;
  signIns: number;
  reconnects: number;
  exports: number;
  imports: number;
  importRows: number;
  eventsDelivered: number;
}

export interface SoakResult {
  errors: string[];
  /** Redis key families at the end (after the traffic settled). */
  families: Map<string, RedisFamily>;
  counters: SoakCounters;
  series: Series[];
  /** Minutes of traffic. */
  minutes: number;
  clients: number;
  organizations: number;
}

const ORIGIN = 'http://localhost:3000';
const IMPORT_ROWS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = (min: number, max: number) => min + Math.random() * (max - min);

interface Client {
  i: number;
  user: TestUser;
  orgId: string;
  address: string;
  auth: Exclude<Auth, null>;
  docId: string;
  version: number;
  /** Versions of its own document it saved (2, 3, …): what its subscribers must receive. */
  saved: number[];
  neighbour?: Client;
  sub?: Subscriber;
  feed?: Collector<{ id: string; data: { version: number } }>;
  /** Versions of the neighbour's document received, over every connection. */
  received: Set<number>;
  lastEventId?: string;
  exportIds: string[];
  importIds: string[];
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const clientsN = opts.clients ?? 20;
  const orgsN = opts.organizations ?? 4;
  const log = opts.log ?? (() => undefined);
  const errors: string[] = [];
  const counters: SoakCounters = {
    calls: 0,
    reads: 0,
    saves: 0,
    signIns: 0,
    reconnects: 0,
    exports: 0,
    imports: 0,
    importRows: 0,
    eventsDelivered: 0,
  };
  const fail = (what: string) => {
    if (errors.length < 200) errors.push(what);
  };

  const fx: FleetEnvironment = await createFleetEnvironment('soak', {
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
  });
  const processes: KeelProcess[] = [];
  try {
    const api = await startKeel('serve', fx.env, { memory: true });
    processes.push(api);
    const worker = await startKeel('work', fx.env, { memory: true });
    processes.push(worker);
    const url = `http://${api.address}`;
    const wsUrl = `ws://${api.address}/trpc`;

    const orgs = await Promise.all(Array.from({ length: orgsN }, (_, i) => createOrg(fx.deps, `Soak ${i}`)));
    const clients: Client[] = [];
    for (let i = 0; i < clientsN; i++) {
      const orgId = orgs[i % orgsN]!.id;
      const user = await addMember(fx.deps, orgId, 'member');
      const address = `198.51.100.${i + 1}`;
      const { cookie } = await signIn(url, ORIGIN, user.email, PASSWORD, { 'x-forwarded-for': address });
      const auth = { cookie, origin: ORIGIN };
      const doc = await call<{ id: string }>(url, 'documents.create', {
        type: 'mutation',
        auth,
        headers: { 'x-forwarded-for': address },
        input: { title: `Soak ${i}`, content: 'v1' },
      });
      if (!doc.ok) throw new Error(`soak setup: ${doc.error}`);
      clients.push({
        i,
        user,
        orgId,
        address,
        auth,
        docId: doc.data!.id,
        version: 1,
        saved: [],
        received: new Set(),
        exportIds: [],
        importIds: [],
      });
    }
    // Each client watches the next client of its organization (whose saves it must all receive).
    for (const c of clients)
      c.neighbour =
        clients.find((n) => n.orgId === c.orgId && n.i > c.i) ??
        clients.find((n) => n.orgId === c.orgId && n !== c);

    const connect = (c: Client) => {
      c.sub = subscriber(wsUrl, c.auth);
      const feed = collect<{ id: string; data: { version: number } }>((h) =>
        c.sub!.trpc.documents.updates.subscribe(
          { documentId: c.neighbour!.docId, ...(c.lastEventId ? { lastEventId: c.lastEventId } : {}) },
          {
            ...h,
            onData: (v) => {
              h.onData(v);
              const item = v as { id: string; data: { version: number } };
              c.lastEventId = item.id;
              c.received.add(item.data.version);
              counters.eventsDelivered += 1;
            },
          },
        ),
      );
      c.feed = feed;
    };
    for (const c of clients) connect(c);

    const recorder = new SoakRecorder(fx.deps.redis.get('queue'), fx.env.KEY_PREFIX!, fx.deps.em, {
      api,
      worker,
    });
    await recorder.sample();
    const startedAt = Date.now();
    const endAt = startedAt + opts.durationMs;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(opts.sampleEveryMs ?? 10_000);
        if (!sampling) break;
        await recorder.sample().catch((err: Error) => fail(`sample: ${err.message}`));
        const mins = ((Date.now() - startedAt) / 60_000).toFixed(1);
        log(
          `soak ${mins} min: ${counters.calls} calls, ${errors.length} errors, api rss ${((api.memory()?.rss ?? 0) / 1048576).toFixed(0)} MB`,
        );
      }
    })();

    const csv =
      'Email,Category,Status,Amount,Created At\n' +
      Array.from({ length: IMPORT_ROWS }, (_, i) => `,c${i},active,${i}.5,2026-01-02T10:00:00Z\n`).join('');

    const act = async (
      c: Client,
      procedure: string,
      input?: unknown,
      type: 'query' | 'mutation' = 'query',
    ) => {
      counters.calls += 1;
      const r = await call(url, procedure, {
        type,
        auth: c.auth,
        input,
        headers: { 'x-forwarded-for': c.address },
      });
      if (!r.ok) fail(`client ${c.i} ${procedure}: ${r.status} ${r.appCode ?? ''} ${r.error ?? ''}`);
      return r;
    };

    const runClient = async (c: Client) => {
      // Staggered schedules, so the periodic actions of 20 clients do not all land in the same second.
      let nextSignIn = Date.now() + jitter(30_000, 90_000);
      let nextReconnect = Date.now() + jitter(20_000, 60_000);
      let nextExport = Date.now() + jitter(10_000, 150_000);
      let nextImport = Date.now() + jitter(10_000, 120_000);
      while (Date.now() < endAt) {
        const now = Date.now();
        if (now >= nextSignIn) {
          nextSignIn = now + jitter(75_000, 105_000);
          // Sign-out ends the live subscriptions of the session (SESSION_EXPIRED): a browser closes its socket
          // first, as the web app does when it signs out.
          c.feed?.stop();
          await c.sub?.close();
          c.sub = undefined;
          await act(c, 'auth.signOut', undefined, 'mutation');
          const fresh = await signIn(url, ORIGIN, c.user.email, PASSWORD, {
            'x-forwarded-for': c.address,
          }).catch((err: Error) => {
            fail(`client ${c.i} sign-in: ${err.message}`);
            return null;
          });
          counters.signIns += 1;
          if (fresh) c.auth = { cookie: fresh.cookie, origin: ORIGIN };
          connect(c);
        } else if (now >= nextReconnect) {
          nextReconnect = now + jitter(45_000, 75_000);
          c.feed?.stop();
          await c.sub?.close();
          connect(c);
          counters.reconnects += 1;
        } else if (now >= nextExport) {
          nextExport = now + jitter(120_000, 180_000);
          const from = new Date(Date.UTC(2025, 0, 1 + Math.floor(Math.random() * 300))).toISOString();
          const r = await act(c, 'exports.request', { from }, 'mutation');
          const e = r.data as { export: { id: string }; duplicate: boolean } | undefined;
          if (e && !e.duplicate) {
            c.exportIds.push(e.export.id);
            counters.exports += 1;
          }
        } else if (now >= nextImport) {
          nextImport = now + jitter(100_000, 140_000);
          const body = csv.replaceAll('\n,', `\n${c.user.email},`);
          const r = await act(
            c,
            'imports.createUpload',
            { filename: 'soak.csv', size: Buffer.byteLength(body) },
            'mutation',
          );
          const reserved = r.data as { importId: string; uploadUrl: string } | undefined;
          if (reserved) {
            const u = new URL(reserved.uploadUrl);
            const put = await fetch(`${url}${u.pathname}${u.search}`, { method: 'PUT', body }).catch(
              () => null,
            );
            if (put?.status !== 201) fail(`client ${c.i} upload: ${put?.status ?? 'no answer'}`);
            else if ((await act(c, 'imports.start', { importId: reserved.importId }, 'mutation')).ok) {
              c.importIds.push(reserved.importId);
              counters.imports += 1;
              counters.importRows += IMPORT_ROWS;
            }
          }
        } else if (Math.random() < 0.3) {
          const r = await act(
            c,
            'documents.update',
            { id: c.docId, baseVersion: c.version, content: `v${c.version + 1}` },
            'mutation',
          );
          if (r.ok) {
            c.version = (r.data as { version: number }).version;
            c.saved.push(c.version);
            counters.saves += 1;
          }
        } else {
          const reads: [string, unknown][] = [
            ['organization.current', undefined],
            ['dashboard.stats', undefined],
            ['documents.get', { id: c.neighbour!.docId }],
            ['documents.list', {}],
            ['flags.evaluateAll', undefined],
            ['auth.me', undefined],
            ['exports.list', {}],
          ];
          const [procedure, input] = reads[Math.floor(Math.random() * reads.length)]!;
          await act(c, procedure, input);
          counters.reads += 1;
        }
        for (const err of c.feed?.errors.splice(0) ?? []) fail(`client ${c.i} subscription: ${String(err)}`);
        await sleep(jitter(1_200, 2_200));
      }
    };
    await Promise.all(clients.map(runClient));
    const minutes = (Date.now() - startedAt) / 60_000;

    // Settle: every saved version reaches its subscribers, every export and import finishes.
    const settleUntil = Date.now() + 60_000;
    const missing = () =>
      clients.flatMap((c) =>
        c.neighbour!.saved.filter((v) => !c.received.has(v)).map((v) => `${c.i}←${c.neighbour!.i}@${v}`),
      );
    while (missing().length && Date.now() < settleUntil) await sleep(200);
    if (missing().length)
      fail(`events not delivered: ${missing().slice(0, 20).join(' ')} (${missing().length})`);
    const unfinished = async () => {
      const conn = fx.deps.em.getConnection();
      const ids = (xs: string[]) =>
        xs.length ? xs.map((id) => `'${id}'`).join(',') : `'00000000-0000-0000-0000-000000000000'`;
      const exports = (await conn.execute(
        `select id, status from exports where id in (${ids(clients.flatMap((c) => c.exportIds))}) and status <> 'completed'`,
      )) as { id: string; status: string }[];
      const imports = (await conn.execute(
        `select id, status from imports where id in (${ids(clients.flatMap((c) => c.importIds))}) and status <> 'completed'`,
      )) as { id: string; status: string }[];
      return [
        ...exports.map((e) => `export ${e.id} ${e.status}`),
        ...imports.map((i) => `import ${i.id} ${i.status}`),
      ];
    };
    while ((await unfinished()).length && Date.now() < settleUntil + 60_000) await sleep(1_000);
    for (const u of await unfinished()) fail(`${u} at the end`);

    sampling = false;
    await sampler;
    await recorder.sample();
    for (const c of clients) {
      c.feed?.stop();
      await c.sub?.close();
    }
    for (const p of processes) if (!p.alive()) fail(`keel ${p.role} died: ${p.output().slice(-2000)}`);
    return {
      errors,
      families: recorder.families,
      counters,
      series: [...recorder.series.values()],
      minutes,
      clients: clientsN,
      organizations: orgsN,
    };
  } finally {
    await Promise.allSettled(processes.map((p) => p.stop()));
    await fx.close();
  }
}
