import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { withDbScope } from '../../platform/db/context.ts';
import type { DataServices } from '../notifications/notifications.service.ts';
import { DataExport } from './export.entity.ts';
import { purgeExport } from './exports.service.ts';

/**
 * Leader task (`exports:purge-expired`, hourly): the files of exports whose link has expired, found by the row's
 * `expires_at` rather than by the delayed purge job each export queues (a job Redis can lose with its data). Each
 * file is deleted and its key cleared in its organization's scope; running it twice, or alongside the purge job,
 * deletes nothing twice (the key is read fresh, and deleting a missing file is not an error). Returns the exports
 * whose files went.
 */
export async function purgeExpiredExports(
  s: DataServices,
  opts: { now?: number; limit?: number } = {},
): Promise<string[]> {
  const now = new Date(opts.now ?? Date.now());
  // Across every organization: the fork has no tenant, so row-level security does not narrow it either.
  const expired = await withDbScope(s.em, undefined, (em) =>
    em.find(
      DataExport,
      { fileKey: { $ne: null }, expiresAt: { $lt: now } },
      {
        fields: ['id', 'organization'],
        filters: { [TENANT_FILTER]: false },
        orderBy: { expiresAt: 'asc' },
        limit: opts.limit ?? 500,
      },
    ),
  );
  const purged: string[] = [];
  for (const e of expired) {
    await withDbScope(s.em, e.organization.id, (em) => purgeExport(s, em, e.id));
    purged.push(e.id);
  }
  if (purged.length) {
    s.logger.warn(
      { exports: purged.slice(0, 100), count: purged.length },
      'expired export files purged by the sweep',
    );
  }
  return purged;
}
