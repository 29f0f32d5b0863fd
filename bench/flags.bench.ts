import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../server/config/env.ts';
import { createDeps, type AppDeps } from '../server/deps.ts';
import { Organization } from '../server/modules/tenancy/organization.entity.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { printFigures } from './lib.ts';

// evaluateAll with 50 flags (mixed kinds, rollouts, overrides for 1,000 organizations), against one raw Redis GET
// (what fetching a request's flags from Redis would cost at the least), plus how long a change takes to be seen by
// another process.

const FLAGS = 50;
const ORGS = 1000;
const OVERRIDES = 300;

export async function run(): Promise<void> {
  const { env, cleanup } = await createBenchEnvironment('flags');

  const open = () =>
    createDeps(parseConfig(env), { logger: createLogger({ level: 'silent', pretty: false }) });
  const deps: AppDeps[] = [];
  try {
    const p1 = await open();
    const p2 = await open();
    deps.push(p1, p2);
    const actor = { id: '00000000-0000-4000-8000-000000000001', email: 'bench@example.test' };
    const orgIds = await withDbScope(p1.em, undefined, async (em) => {
      const orgs = Array.from({ length: ORGS }, (_, i) =>
        em.create(Organization, {
          name: `Org ${i}`,
          slug: `bench-org-${i}`,
          billingEmail: null,
          settings: {},
        }),
      );
      await em.flush();
      return orgs.map((o) => o.id);
    });
    for (let i = 0; i < FLAGS; i++) {
      const variant = i % 5 === 0;
      await p1.flags.create(actor, {
        key: `flag-${i}`,
        description: 'bench',
        kind: variant ? 'variant' : 'boolean',
        ...(variant
          ? { variants: { a: 'A', b: { n: 1 }, c: [1, 2] }, defaultVariant: 'a', onVariant: 'b' }
          : {}),
        enabled: i % 7 === 0,
        rolloutPercentage: (i * 13) % 100,
        owner: 'bench',
        expectedRemovalAt: null,
      });
    }
    for (let i = 0; i < OVERRIDES; i++) {
      const flag = i % FLAGS;
      await p1.flags.setOverride(actor, {
        key: `flag-${flag}`,
        organizationId: orgIds[(i * 7) % ORGS]!,
        variant: flag % 5 === 0 ? 'c' : 'on',
      });
    }

    const raw = p1.redis.get('cache');
    await raw.set(`${env.KEY_PREFIX}bench:raw`, 'x');
    const rawRun = async (ms: number) => {
      let n = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        await raw.get(`${env.KEY_PREFIX}bench:raw`);
        n++;
      }
      return n / (ms / 1000);
    };
    const evalRun = async (ms: number) => {
      let n = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        const all = await p1.flags.evaluateAll(orgIds[n % ORGS]);
        if (Object.keys(all).length !== FLAGS) throw new Error('missing flags');
        n++;
      }
      return n / (ms / 1000);
    };
    await rawRun(500);
    await evalRun(500);
    const rawOps = await rawRun(3000);
    const evalOps = await evalRun(5000);

    // A change made in process 1 is visible in process 2 (which holds the set in memory) once the change returns.
    const propagation: number[] = [];
    for (let i = 0; i < 20; i++) {
      await p2.flags.evaluateAll(orgIds[0]);
      const enabled = i % 2 === 0;
      const t = performance.now();
      await p1.flags.update(actor, { key: 'flag-1', enabled });
      const returned = performance.now() - t;
      const seen = (await p2.flags.evaluateAll(orgIds[0]))['flag-1']?.reason;
      const seenOk = enabled ? seen !== 'DEFAULT' : true;
      if (!seenOk) throw new Error('process 2 served a stale flag after the change returned');
      propagation.push(returned);
      await sleep(10);
    }
    propagation.sort((a, b) => a - b);

    printFigures('flags', [
      {
        name: 'evaluate_all_50_ops',
        value: Math.round(evalOps),
        unit: 'req/s',
        baseline: Math.round(rawOps),
        goal: 'higher: no round trip per request while warm',
      },
      {
        name: 'flag_evaluations',
        value: Math.round(evalOps * FLAGS),
        unit: 'evals/s',
        baseline: null,
        goal: 'info',
      },
      {
        name: 'change_visible_everywhere_p50',
        value: Number(propagation[Math.floor(propagation.length / 2)]!.toFixed(2)),
        unit: 'ms',
        baseline: null,
        goal: '<=1000ms',
      },
      {
        name: 'change_visible_everywhere_max',
        value: Number(propagation[propagation.length - 1]!.toFixed(2)),
        unit: 'ms',
        baseline: null,
        goal: '<=1000ms',
      },
    ]);
  } finally {
    for (const d of deps) await d.close();
    await cleanup();
  }
}
