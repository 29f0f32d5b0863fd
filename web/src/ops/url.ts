import { useCallback } from 'react';
import { useSearchParams } from 'react-router';
import { pageFrom } from '../ui/Pagination.tsx';

export type ParamPatch = Record<string, string | number | null | undefined>;

/**
 * A page's filters, tabs and page number live in the URL, so a view can be linked to and Back works. `set` merges
 * a patch into the current parameters; empty values are removed, and so is `page` whenever a filter changes.
 */
export function useUrlState() {
  const [params, setParams] = useSearchParams();
  const get = useCallback((key: string) => params.get(key)?.trim() ?? '', [params]);
  const set = useCallback(
    (patch: ParamPatch, opts: { keepPage?: boolean; replace?: boolean } = {}) => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (!opts.keepPage && !('page' in patch)) next.delete('page');
          for (const [key, value] of Object.entries(patch)) {
            if (
              value === null ||
              value === undefined ||
              value === '' ||
              (key.endsWith('page') && value === 1)
            ) {
              next.delete(key);
            } else {
              next.set(key, String(value));
            }
          }
          return next;
        },
        opts.replace ? { replace: true } : undefined,
      );
    },
    [setParams],
  );
  return { params, get, set, page: pageFrom(params.get('page')) };
}

/** One of the allowed values, or the fallback for anything else a hand-edited URL may hold. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], fallback: T): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}
