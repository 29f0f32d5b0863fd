import { JOB_SEARCH_STATES, type JobSearchFilter } from '../../../../shared/schemas/jobs.ts';
import { oneOf, useUrlState } from '../url.ts';
import { isUuid } from './useJobs.ts';

/** The search's URL parameters (on /ops/jobs?list=search), so a search can be linked to and Back works. */
export const SEARCH_PARAMS = ['type', 'org', 'tag', 'state', 'field', 'from', 'to'] as const;

const FIELD = /^([a-z_][a-z0-9_]{0,59})=(.{1,200})$/i;

/** `datetime-local` text (the operator's time zone) to ms, or undefined when empty or malformed. */
export function msOf(local: string): number | undefined {
  if (!local) return undefined;
  const ms = new Date(local).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** A declared payload field as typed, `invoiceId=inv-42`, or null when it is not one. */
export function parseField(text: string): Record<string, string> | null {
  const m = FIELD.exec(text.trim());
  return m ? { [m[1]!]: m[2]! } : null;
}

/** The filter as the URL holds it; a hand-edited URL with a bad value filters by nothing for that parameter. */
export function useJobSearchFilter(): { filter: JobSearchFilter; filtered: boolean } {
  const { get } = useUrlState();
  const org = get('org');
  const state = oneOf(get('state'), ['', ...JOB_SEARCH_STATES] as const, '');
  const field = parseField(get('field'));
  const from = msOf(get('from'));
  const to = msOf(get('to'));
  const filter: JobSearchFilter = {
    ...(get('type') ? { name: get('type') } : {}),
    ...(org === 'none' || isUuid(org) ? { organizationId: org } : {}),
    ...(get('tag') ? { tag: get('tag') } : {}),
    ...(state ? { state } : {}),
    ...(field ? { fields: field } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
  };
  return { filter, filtered: Object.keys(filter).length > 0 };
}
