import type { Logger } from '../logger/logger.ts';
import type { Storage } from './storage.ts';

/**
 * A temporary file untouched this long has no writer: writers touch theirs with every chunk, and every job that
 * writes files times out well before this (exports at 30 minutes), as do upload links (15 minutes).
 */
export const STRAY_TEMP_FILE_MS = 3_600_000;

/** Removes stray temporary files from storage and says which. */
export async function sweepStorage(
  deps: { storage: Storage; logger: Logger },
  olderThanMs = STRAY_TEMP_FILE_MS,
): Promise<string[]> {
  const removed = (await deps.storage.sweepIncomplete?.(olderThanMs)) ?? [];
  if (removed.length) {
    deps.logger.warn(
      { removed: removed.slice(0, 100), count: removed.length },
      'stray temporary files removed',
    );
  }
  return removed;
}
