import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createAccount } from '../server/modules/auth/auth.service.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { SCHEDULED_EXPORT_JOB } from '../server/modules/exports/exports.service.ts';
import { Schedule } from '../server/modules/schedules/schedule.entity.ts';
import { fireDueSchedules } from '../server/modules/schedules/schedules.fire.ts';
import { Organization } from '../server/modules/tenancy/organization.entity.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { median, printFigures } from './lib.ts';

// A burst of tenant schedules all due at once (every organization's "Monday 09:00"), queued by one leader tick
// (`fireDueSchedules`: a due-page read, a Redis claim, the dispatch, the marker and a compare-and-set per schedule),
// against the same number of plain `queue.dispatch` calls of the same job and payloads in the same run (the part of
// the work that is the queue's). Rounds alternate baseline and tick; figures are medians.

const ORGS = 20;
const PER_ORG = 100;
const ROUNDS = 3;

export async function run(): Promise<void> {
  const bench = await createBenchEnvironment('schedules');
  const config = parseConfig(bench.env);
  const deps = await createDeps(config, { logger: createLogger({ level: 'silent', pretty: false }) });
  const redis = deps.redis.get('queue');
  try {
    const passwordHash = await hashPassword('bench password, not a secret');
    const orgs: string[] = [];
    for (let i = 0; i < ORGS; i++) {
      const { organizationId } = await createAccount(deps.em, {
        email: `bench-${i}@example.test`,
        passwordHash,
        name: 'Bench',
        organizationName: `Bench ${i}`,
      });
      orgs.push(organizationId);
    }
    await withDbScope(deps.em, undefined, (em) =>
      em.nativeUpdate(Organization, { id: { $in: orgs } }, { tier: 'enterprise' }),
    );
    for (const org of orgs) {
      await withDbScope(deps.em, org, async (em) => {
        for (let i = 0; i < PER_ORG; i++) {
          em.create(Schedule, {
            organization: org,
            job: SCHEDULED_EXPORT_JOB,
            spec: 'weekly at 09:00 on Monday',
            cron: '0 9 * * 1',
            timeZone: 'Europe/Berlin',
            payload: { lastDays: 7 },
            nextRunAt: null,
          });
        }
        await em.flush();
      });
    }
    const total = ORGS * PER_ORG;
    const baseline: number[] = [];
    const tick: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      for (const org of orgs) {
        for (let i = 0; i < PER_ORG; i++) {
          await deps.queue.dispatch(SCHEDULED_EXPORT_JOB, { lastDays: 7 }, { organizationId: org });
        }
      }
      baseline.push(total / ((performance.now() - t) / 1000));

      // Every schedule due one minute ago (a new due time each round, so each round's runs are new runs).
      const due = new Date(Date.now() - 60_000 - round);
      await withDbScope(deps.em, undefined, (em) =>
        em.nativeUpdate(Schedule, { organization: { $in: orgs } }, { nextRunAt: due }, { filters: false }),
      );
      t = performance.now();
      const r = await fireDueSchedules({ ...deps, redis });
      tick.push(r.dispatched / ((performance.now() - t) / 1000));
      if (r.dispatched !== total) throw new Error(`tick queued ${r.dispatched} of ${total}`);
    }
    const base = median(baseline);
    printFigures('schedules', [
      {
        name: 'tick_schedules_per_s',
        value: median(tick),
        unit: 'schedules/s',
        baseline: base,
        goal: `higher; ${total} schedules due at once queued in one tick (load ${os.loadavg()[0]!.toFixed(1)})`,
      },
    ]);
  } finally {
    await deps.close();
    await bench.cleanup();
  }
}
