import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useMe } from '../../auth/session.tsx';
import { useTRPC } from '../../trpc.ts';
import { messageOf } from '../../ui/errors.ts';

interface Person {
  userId: string;
  name: string;
  state: string;
}

/** Who has the document open. Every (re)subscription starts with a snapshot, so a reconnect needs no catch-up. */
export function PresenceBar({ documentId }: { documentId: string }) {
  const trpc = useTRPC();
  const me = useMe();
  const [people, setPeople] = useState<Person[]>([]);
  const [change, setChange] = useState<string | null>(null);
  const presence = useSubscription(
    trpc.documents.presence.subscriptionOptions(
      { documentId },
      {
        onData: ({ data }) => {
          if (data.type === 'snapshot') {
            setPeople(data.users.map(({ userId, name, state }) => ({ userId, name, state })));
            return;
          }
          if (data.type === 'leave') {
            setPeople((ps) => ps.filter((p) => p.userId !== data.userId));
            if (data.userId !== me.user.id) setChange(`${data.name} left`);
            return;
          }
          const person = { userId: data.userId, name: data.name, state: data.state };
          setPeople((ps) =>
            ps.some((p) => p.userId === data.userId)
              ? ps.map((p) => (p.userId === data.userId ? person : p))
              : [...ps, person],
          );
          if (data.type === 'join' && data.userId !== me.user.id) setChange(`${data.name} joined`);
        },
      },
    ),
  );
  return (
    <div className="presence" aria-label="People here" role="region">
      <span className="muted small">Here now:</span>
      <ul className="presence-list">
        {people.map((p) => (
          <li key={p.userId} className="presence-person" title={`${p.name} (${p.state})`}>
            <span className="avatar" aria-hidden="true">
              {p.name.slice(0, 1).toUpperCase()}
            </span>
            {p.name}
            {p.userId === me.user.id ? ' (you)' : ''}
          </li>
        ))}
      </ul>
      <span className="muted small" aria-live="polite">
        {presence.status === 'connecting'
          ? 'Reconnecting…'
          : presence.status === 'error'
            ? `Presence unavailable: ${messageOf(presence.error)}`
            : (change ?? '')}
      </span>
    </div>
  );
}
