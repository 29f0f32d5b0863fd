import type { AppDeps } from '../../../app-deps.ts';
import { withDbScope } from '../../../platform/db/context.ts';

/**
 * `count` records for an organization in one INSERT … SELECT (as the schema owner, like a migration would):
 * statuses cycle, categories repeat every 10, amounts vary, created_at goes back one second per row.
 */
export async function seedRecords(
  deps: AppDeps,
  organizationId: string,
  userId: string | null,
  count: number,
): Promise<void> {
  await withDbScope(deps.em, undefined, (em) =>
    em.getConnection().execute(
      `insert into records (id, organization_id, user_id, category, status, amount, created_at)
       select gen_random_uuid(), ?, ?, 'category-' || (i % 10),
              (array['pending','active','completed','cancelled'])[1 + i % 4],
              ((i % 1000000) / 100.0)::numeric(14,2),
              timestamptz '2026-01-01T00:00:00Z' - make_interval(secs => i)
       from generate_series(1, ?) as s(i)`,
      [organizationId, userId, count],
    ),
  );
}
