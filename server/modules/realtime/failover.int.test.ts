import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { REALTIME_CLOSE } from '../../../shared/schemas/realtime.ts';
import { createOrg, tokenFor } from '../../test/factories.ts';
import { startKeel } from '../../test/fleet/keel-process.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import {
  clientOf,
  collect,
  startProcess,
  waitFor,
  type ServerProcess,
  type TestClient,
} from './testing/cluster.ts';

// Issue 18.4 and 18.7 with real processes: a crashed API node (kill -9) and a stopped one (SIGTERM to `keel serve`)
// lose no realtime event and repeat none for clients that reconnect to another node.

type Tracked<T> = { id: string; data: T };

let env: TestEnv;
let B: ServerProcess;
let token: string;
const clients: TestClient[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  B = await startProcess(env.config);
  const org = await createOrg(env.deps);
  token = await tokenFor(env.deps, org.id, org.owner);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await B?.stop();
  await env?.close();
});

/** A client whose queries go to `http` and whose subscriptions (re)connect to wherever `ws()` says. */
function client(http: string, ws: () => string, as = token) {
  const c = clientOf(http, { auth: { token: as }, wsUrl: ws });
  clients.push(c);
  return c.trpc;
}

describe('a node that goes away', () => {
  it('kill -9: activity.onNew and documents.updates subscribers resume on another node, none missing or repeated', async () => {
    const A = await startProcess(env.config);
    try {
      const author = client(B.url, () => B.wsUrl);
      const doc = await author.documents.create.mutate({ title: 'Crash', content: 'v1', public: true });
      const ws = () => (A.child.exitCode === null && A.child.signalCode === null ? A.wsUrl : B.wsUrl);
      const updates = [...Array(4).keys()].map(() =>
        collect<Tracked<{ version: number }>>((h) =>
          client(A.url, ws).documents.updates.subscribe({ documentId: doc.id }, h),
        ),
      );
      const activity = [...Array(4).keys()].map(() =>
        collect<Tracked<{ id: number; action: string; subjectId: string | null }>>((h) =>
          client(A.url, ws).activity.onNew.subscribe(undefined, h),
        ),
      );
      await waitFor(() => [...updates, ...activity].every((s) => s.started), 'subscriptions on A');

      const SAVES = 30;
      for (let v = 1; v <= SAVES; v++) {
        if (v === 11) await A.kill();
        await author.documents.update.mutate({ id: doc.id, baseVersion: v, content: `v${v + 1}` });
      }
      const versions = [...Array(SAVES).keys()].map((i) => i + 2);
      for (const u of updates) {
        await u.until((items) => items.length >= SAVES, 'every update');
      }
      const ofDoc = (items: Tracked<{ id: number; action: string; subjectId: string | null }>[]) =>
        items.filter((i) => i.data.action === 'document.updated' && i.data.subjectId === doc.id);
      for (const a of activity) await a.until((items) => ofDoc(items).length >= SAVES, 'every activity');
      // Anything repeated would arrive right after the rest.
      await new Promise((r) => setTimeout(r, 300));

      for (const u of updates) {
        expect(u.errors).toEqual([]);
        expect(u.items.map((i) => i.data.version)).toEqual(versions);
      }
      const expected = ofDoc(activity[0]!.items).map((i) => i.data.id);
      expect(new Set(expected).size).toBe(SAVES);
      for (const a of activity) {
        expect(a.errors).toEqual([]);
        expect(ofDoc(a.items).map((i) => i.data.id)).toEqual(expected);
        expect(new Set(a.items.map((i) => i.id)).size).toBe(a.items.length);
      }
      for (const s of [...updates, ...activity]) s.stop();
    } finally {
      await A.kill();
    }
  }, 120_000);

  it('SIGTERM to keel serve with 20 WebSocket clients: exits 0 within 5 s with every dependency closed, clients miss nothing', async () => {
    const config = env.config;
    const D = await startKeel('serve', {
      NODE_ENV: config.env,
      DATABASE_URL: config.databaseUrl ?? '',
      REDIS_URL: config.redisUrl ?? '',
      KEY_PREFIX: config.keyPrefix,
      APP_URL: config.appUrl,
      SESSION_SECRET: config.sessionSecret,
      LOG_LEVEL: 'info',
    });
    try {
      const dUrl = `http://${D.address}`;
      // Its own user: `keel serve` applies the default per-user API limit (60 calls a minute) to these 22 calls.
      const org = await createOrg(env.deps);
      const own = await tokenFor(env.deps, org.id, org.owner);
      const author = client(B.url, () => B.wsUrl, own);
      const doc = await author.documents.create.mutate({ title: 'Restart', content: 'v1', public: true });
      let target = `ws://${D.address}/trpc`;
      const subs = [...Array(20).keys()].map(() =>
        collect<Tracked<{ version: number }>>((h) =>
          client(dUrl, () => target, own).documents.updates.subscribe({ documentId: doc.id }, h),
        ),
      );
      await waitFor(
        () => subs.every((s) => s.started || s.errors.length),
        '20 subscriptions on the stopping node',
      );
      expect(subs.flatMap((s) => s.errors).map(String)).toEqual([]);
      await author.documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'v2' });
      for (const s of subs) await s.until((items) => items.length === 1, 'the first update');

      // A client that ignores the request to reconnect keeps the node draining for the whole grace period.
      const stubborn = new WebSocket(`ws://${D.address}/trpc`);
      await new Promise((r) => stubborn.once('open', r));
      const stubbornClosed = new Promise<number>((r) => stubborn.once('close', (c) => r(c)));

      target = B.wsUrl;
      const startedAt = Date.now();
      const code = D.stop();
      await waitFor(() => D.output().includes('shutting down'), 'shutdown start');
      // A call arriving while it drains gets a 503 the client parses as a typed error.
      const late = await client(dUrl, () => B.wsUrl, own)
        .documents.list.query({})
        .then(
          () => null,
          (err: unknown) => err,
        );
      for (let v = 2; v <= 6; v++) {
        await author.documents.update.mutate({ id: doc.id, baseVersion: v, content: `v${v + 1}` });
      }
      expect(await code).toBe(0);
      expect(Date.now() - startedAt).toBeLessThan(5_000);
      expect(D.output()).toContain('shut down: HTTP and WebSockets drained');
      expect(await stubbornClosed).toBe(REALTIME_CLOSE.SERVER_RESTART);
      expect(late).toBeInstanceOf(TRPCClientError);
      expect(late instanceof TRPCClientError && late.data).toMatchObject({ appCode: 'SERVICE_UNAVAILABLE' });

      for (const s of subs) {
        await s.until((items) => items.length >= 6, 'the updates made during the restart');
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const s of subs) {
        expect(s.errors).toEqual([]);
        expect(s.items.map((i) => i.data.version)).toEqual([2, 3, 4, 5, 6, 7]);
      }
      for (const s of subs) s.stop();
    } finally {
      await D.kill();
    }
  }, 120_000);
});
