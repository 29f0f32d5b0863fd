import { Link } from 'react-router';
import type { RouterOutputs } from '../trpc.ts';
import { formatTimestamp, shortId } from './format.ts';

type FlagAuditEntry = RouterOutputs['ops']['flags']['audit']['items'][number];

const ACTIONS: Record<string, string> = {
  created: 'created the flag',
  updated: 'changed the flag',
  killed: 'pulled the kill switch',
  revived: 'released the kill switch',
  'override.set': 'set an organization override',
  'override.removed': 'removed an organization override',
};

type Snapshot = Record<string, unknown> | null;

/** What an update changed, as "enabled: false → true" lines. */
export function changesOf(before: unknown, after: unknown): string[] {
  const b = (before ?? {}) as Snapshot;
  const a = (after ?? {}) as Snapshot;
  if (!b || !a || typeof b !== 'object' || typeof a !== 'object') return [];
  const keys = new Set([...Object.keys(b), ...Object.keys(a)]);
  const out: string[] = [];
  for (const k of keys) {
    const x = JSON.stringify(b[k]);
    const y = JSON.stringify(a[k]);
    if (x !== y) out.push(`${k}: ${x ?? '—'} → ${y ?? '—'}`);
  }
  return out;
}

/** The flags module's own audit log: who changed what, with before and after. */
export function FlagAuditTable({
  entries,
  showFlag = false,
  orgNames = {},
}: {
  entries: FlagAuditEntry[];
  showFlag?: boolean;
  orgNames?: Record<string, string>;
}) {
  return (
    <div className="table-scroll">
      <table className="table">
        <thead>
          <tr>
            <th scope="col">When</th>
            {showFlag ? <th scope="col">Flag</th> : null}
            <th scope="col">Who</th>
            <th scope="col">Change</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id}>
              <td className="nowrap">
                <time dateTime={e.createdAt.toISOString()}>{formatTimestamp(e.createdAt)}</time>
              </td>
              {showFlag ? (
                <td>
                  <Link to={`/ops/flags/${encodeURIComponent(e.flagKey)}`}>
                    <code>{e.flagKey}</code>
                  </Link>
                </td>
              ) : null}
              <td>{e.actorEmail ?? 'system'}</td>
              <td>
                {ACTIONS[e.action] ?? e.action}
                {e.organizationId ? (
                  <>
                    {' for '}
                    <Link to={`/ops/tenants/${e.organizationId}`}>
                      {orgNames[e.organizationId] ?? shortId(e.organizationId)}
                    </Link>
                  </>
                ) : null}
                {e.action === 'updated' || e.action.startsWith('override') ? (
                  <ul className="plain small muted">
                    {changesOf(e.before, e.after).map((c) => (
                      <li key={c}>{c}</li>
                    ))}
                  </ul>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
