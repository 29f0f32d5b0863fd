import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { callerAs, createOrg } from '../../test/factories.ts';
import { createFleetEnvironment, type FleetEnvironment } from '../../test/fleet/environment.ts';
import { startKeel, type KeelProcess } from '../../test/fleet/keel-process.ts';
import { seedRecords } from '../records/testing/seed.ts';
import { DataExport } from './export.entity.ts';

// Issue 18.6: a worker killed mid-export blocked its organization's exports for ~30 minutes (the overlap lock lived
// for the job's timeout and refused the job's own retry) and left its `.partial` file for ever. Real `keel work`
// processes; the first is killed with SIGKILL while it writes the file.

let fx: FleetEnvironment;
const workers: KeelProcess[] = [];

beforeAll(async () => {
  fx = await createFleetEnvironment('qkill');
}, 120_000);
afterAll(async () => {
  for (const w of workers) await w.kill();
  await fx?.close();
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => []);
  return entries.map(String);
}

async function until<T>(fn: () => Promise<T>, what: string, timeoutMs: number, everyMs = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('kill -9 of a worker mid-export', () => {
  it('the export is retried and completes within a minute of the replacement; no temporary file remains', async () => {
    const org = await createOrg(fx.deps);
    // Enough rows that the file takes a while to write on two shared cores.
    await seedRecords(fx.deps, org.id, org.owner.id, 600_000);
    const storage = path.join(fx.dir, 'storage');
    const row = (id: string) =>
      withDbScope(fx.deps.em, org.id, (em) => em.findOneOrFail(DataExport, { id }, { refresh: true }));

    workers.push(await startKeel('work', fx.env));
    const caller = await callerAs(fx.deps, org.owner);
    const { export: big } = await caller.exports.request({});
    // A second export of the same organization waits behind the first one's overlap lock.
    const { export: small } = await caller.exports.request({ statuses: ['cancelled'] });

    await until(
      async () =>
        (await row(big.id)).status === 'running' &&
        (await filesUnder(storage)).some((f) => f.endsWith('.partial')),
      'the export to be writing its file',
      60_000,
    );
    await workers[0]!.kill();
    expect((await filesUnder(storage)).some((f) => f.endsWith('.partial'))).toBe(true);

    const replacedAt = Date.now();
    workers.push(await startKeel('work', fx.env));
    const done = await until(
      async () => {
        const [a, b] = [await row(big.id), await row(small.id)];
        return a.status === 'completed' && b.status === 'completed' ? { a, b } : null;
      },
      'both exports to complete',
      60_000,
      200,
    );
    expect(Date.now() - replacedAt).toBeLessThan(60_000);
    expect(done.a.rowCount).toBe(600_000);
    const files = await filesUnder(storage);
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.csv'))).toHaveLength(2);
  }, 240_000);
});
