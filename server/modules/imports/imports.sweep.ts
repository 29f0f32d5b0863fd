import { withDbScope } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import type { DataServices } from '../notifications/notifications.service.ts';
import { DataImport } from './import.entity.ts';

/**
 * An import still `uploading` this long after its upload was reserved will not be started: its upload link lived
 * 15 minutes, and a file uploaded but never started is kept a day for the user to start it.
 */
export const STALE_UPLOAD_MS = 24 * 3_600_000;
export const STALE_UPLOAD_ERROR = 'The upload was never imported within a day; upload the file again';

/**
 * Leader task (`imports:sweep-uploads`, hourly): imports left `uploading` past STALE_UPLOAD_MS are marked failed
 * (one conditional UPDATE each, so an import started meanwhile is left alone) and their file, whole or partial, is
 * deleted. Running it twice does nothing more. Returns the imports swept.
 */
export async function sweepStaleUploads(
  s: DataServices,
  opts: { now?: number; olderThanMs?: number; limit?: number } = {},
): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const cutoff = new Date(now - (opts.olderThanMs ?? STALE_UPLOAD_MS));
  // Across every organization: the fork has no tenant, so row-level security does not narrow it either.
  const stale = await withDbScope(s.em, undefined, (em) =>
    em.find(
      DataImport,
      { status: 'uploading', createdAt: { $lt: cutoff } },
      {
        fields: ['id', 'organization', 'fileKey'],
        filters: { [TENANT_FILTER]: false },
        orderBy: { createdAt: 'asc' },
        limit: opts.limit ?? 500,
      },
    ),
  );
  const swept: string[] = [];
  for (const row of stale) {
    const claimed = await withDbScope(s.em, row.organization.id, (em) =>
      em.nativeUpdate(
        DataImport,
        { id: row.id, status: 'uploading' },
        { status: 'failed', error: STALE_UPLOAD_ERROR, finishedAt: new Date(now) },
      ),
    );
    if (!claimed) continue;
    await s.storage.delete(row.fileKey);
    await s.storage.discardIncomplete?.(row.fileKey);
    swept.push(row.id);
  }
  if (swept.length) {
    s.logger.warn({ imports: swept.slice(0, 100), count: swept.length }, 'stale uploads swept');
  }
  return swept;
}
