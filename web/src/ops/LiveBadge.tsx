import { messageOf } from '../ui/errors.ts';

/** Whether a page's live subscription is delivering: "Live", "Connecting…" or why it stopped. */
export function LiveBadge({ status, error }: { status: string; error: unknown }) {
  const label =
    status === 'pending'
      ? 'Live'
      : status === 'connecting'
        ? 'Connecting…'
        : status === 'error'
          ? `Live updates paused: ${messageOf(error)}`
          : 'Not live';
  return (
    <span className={`live live-${status}`} role="status">
      {label}
    </span>
  );
}
