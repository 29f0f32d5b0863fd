import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { messageOf } from '../ui/errors.ts';
import { formatDateTime } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';

type Activity = RouterOutputs['activity']['recent'][number];

const LIMIT = 20;

const DESCRIPTIONS: Record<string, string> = {
  'organization.created': 'created the organization',
  'organization.updated': 'updated the organization settings',
  'member.joined': 'joined the organization',
  'member.invited': 'invited someone to join',
  'member.removed': 'removed a member',
  'document.created': 'created a document',
  'document.updated': 'edited a document',
  'export.download': 'downloaded an export',
  'token.created': 'created an API token',
  'token.revoked': 'revoked an API token',
  'token.revoked_all': 'revoked all their API tokens',
};

export function ActivityFeed() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const input = { limit: LIMIT };
  const recent = useQuery(trpc.activity.recent.queryOptions(input));
  const live = useSubscription(
    trpc.activity.onNew.subscriptionOptions(undefined, {
      onData: ({ data }) => {
        // More was missed than the server keeps: read the list again.
        if ('type' in data) return void recent.refetch();
        // Newest first, without duplicates: an event can arrive after the list that already contains it.
        queryClient.setQueryData(trpc.activity.recent.queryKey(input), (old) =>
          old && !old.some((a) => a.id === data.id) ? [data, ...old].slice(0, LIMIT) : old,
        );
      },
    }),
  );

  return (
    <Section title="Recent activity" aside={<LiveStatus status={live.status} error={live.error} />}>
      <QueryView
        query={recent}
        loading="Loading activity…"
        empty={{ when: (d) => d.length === 0, title: 'Nothing has happened yet' }}
      >
        {(items) => (
          <ol className="activity" aria-label="Activity, newest first">
            {items.map((a) => (
              <ActivityItem key={a.id} activity={a} />
            ))}
          </ol>
        )}
      </QueryView>
    </Section>
  );
}

function ActivityItem({ activity: a }: { activity: Activity }) {
  return (
    <li>
      <span>
        <strong>{a.userName ?? 'Keel'}</strong> {DESCRIPTIONS[a.action] ?? a.action}
      </span>
      <time className="muted small" dateTime={a.createdAt.toISOString()}>
        {formatDateTime(a.createdAt)}
      </time>
    </li>
  );
}

function LiveStatus({ status, error }: { status: string; error: unknown }) {
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
