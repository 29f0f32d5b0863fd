import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RealtimeLimits } from '../../platform/realtime/connections.ts';
import { createOrg, tokenFor } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import {
  clientOf,
  collect,
  startProcess,
  waitFor,
  type ServerProcess,
  type TestClient,
} from './testing/cluster.ts';

// Issue 18.1: the periodic access recheck ran in the scope of the first subscription of the process, so every other
// tenant's subscription failed its recheck (their tokens and memberships were invisible from that tenant's scope).

const REVALIDATE_MS = 300;
const LIMITS: Partial<RealtimeLimits> = { revalidateMs: REVALIDATE_MS };

let env: TestEnv;
let api: ServerProcess;
const clients: TestClient[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  api = await startProcess(env.config, LIMITS);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await api?.stop();
  await env?.close();
});

type Update = { id: string; data: { version: number } };

describe('the periodic access recheck', () => {
  it('keeps the subscriptions of two organizations in one process live for many recheck periods', async () => {
    const tenants = await Promise.all(
      ['First Org', 'Second Org'].map(async (name) => {
        const org = await createOrg(env.deps, name);
        const token = await tokenFor(env.deps, org.id, org.owner, ['read', 'write']);
        const client = clientOf(api.url, { auth: { token }, wsUrl: api.wsUrl });
        clients.push(client);
        const doc = await client.trpc.documents.create.mutate({ title: name, content: 'v1', public: true });
        return { client, doc };
      }),
    );
    const subs = [];
    // One after the other: the first subscription of the process is the one whose scope leaked.
    for (const { client, doc } of tenants) {
      const sub = collect<Update>((h) => client.trpc.documents.updates.subscribe({ documentId: doc.id }, h));
      await waitFor(() => sub.started, 'subscription start');
      subs.push(sub);
    }
    await new Promise((r) => setTimeout(r, REVALIDATE_MS * 5));

    for (const [i, { client, doc }] of tenants.entries()) {
      await client.trpc.documents.update.mutate({ id: doc.id, baseVersion: 1, content: 'v2' });
      const [got] = await subs[i]!.until((items) => items.length >= 1, `the update of organization ${i + 1}`);
      expect(got!.data.version).toBe(2);
    }
    for (const sub of subs) {
      expect(sub.errors).toEqual([]);
      expect(sub.completed).toBe(false);
      sub.stop();
    }
  });
});
