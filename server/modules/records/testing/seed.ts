import type { AppDeps } from '../../../app-deps.ts';
import { withDbScope } from '../../../platform/db/context.ts';

/** Rows per INSERT: each statement stays well inside the per-statement bound (DB_STATEMENT_TIMEOUT_MS, 30 s). */
const CHUNK = 100_000;

/**
 * `count` records for an organization by INSERT … SELECT (as the schema owner, like a migration would), 100,000
 * rows per statement: statuses cycle, categories repeat every 10, amounts vary, created_at goes back one second per
 * row.
 */
export async function seedRecords(
  deps: AppDeps,
  organizationId: string,
  userId: string | null,
  count: number,
): Promise<void> {
  await withDbScope(deps.em, undefined, async (em) => {
    for (let first = 1; first <= count; first += CHUNK) {
      await em.getConnection().execute(
        `insert into records (id, organization_id, user_id, category, status, amount, created_at)
         select gen_random_uuid(), ?, ?, 'category-' || (i % 10),
                (array['pending','active','completed','cancelled'])[1 + i % 4],
                ((i % 1000000) / 100.0)::numeric(14,2),
                timestamptz '2026-01-01T00:00:00Z' - make_interval(secs => i)
         from generate_series(?::int, ?::int) as s(i)`,
        [organizationId, userId, first, Math.min(count, first + CHUNK - 1)],
      );
    }
  });
}
