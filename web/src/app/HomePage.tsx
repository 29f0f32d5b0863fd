import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { useMe } from '../auth/session.tsx';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { EmptyState } from '../ui/states.tsx';
import { ActivityFeed } from './ActivityFeed.tsx';
import { DashboardStats } from './DashboardStats.tsx';

export function HomePage() {
  const me = useMe();
  if (!me.organization) {
    return (
      <EmptyState title="You are not in an organization yet">
        <p>Ask an owner to invite you, or create an account with a new organization.</p>
        {me.user.staff ? (
          <p>
            <Link to="/ops">Open the ops console</Link>
          </p>
        ) : null}
      </EmptyState>
    );
  }
  // Keyed by organization so that switching starts every query and the live feed afresh.
  return (
    <div className="page" key={me.organization.id}>
      <OrganizationSummary />
      <DashboardStats />
      <div className="columns">
        <Members />
        <ActivityFeed />
      </div>
    </div>
  );
}

function OrganizationSummary() {
  const trpc = useTRPC();
  const org = useQuery(trpc.organization.current.queryOptions());
  return (
    <QueryView query={org} loading="Loading organization…">
      {(o) => <Summary o={o} />}
    </QueryView>
  );
}

function Summary({ o }: { o: RouterOutputs['organization']['current'] }) {
  return (
    <header className="page-head">
      <h1>{o.name}</h1>
      <dl className="facts">
        <div>
          <dt>Address</dt>
          <dd>{o.slug}</dd>
        </div>
        <div>
          <dt>Plan</dt>
          <dd className="capitalize">{o.tier}</dd>
        </div>
        <div>
          <dt>Your role</dt>
          <dd className="capitalize">{o.role}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>{o.active ? 'Active' : 'Suspended'}</dd>
        </div>
        <div>
          <dt>Time zone</dt>
          <dd>{o.settings.timezone}</dd>
        </div>
      </dl>
    </header>
  );
}

function Members() {
  const trpc = useTRPC();
  const members = useQuery(trpc.organization.members.queryOptions());
  return (
    <Section
      title="Members"
      aside={members.data ? <span className="muted">{members.data.length}</span> : null}
    >
      <QueryView
        query={members}
        loading="Loading members…"
        empty={{ when: (d) => d.length === 0, title: 'No members yet' }}
      >
        {(data) => (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
              </tr>
            </thead>
            <tbody>
              {data.map((m) => (
                <tr key={m.userId}>
                  <td>
                    {m.name}
                    <span className="muted block">{m.email}</span>
                  </td>
                  <td className="capitalize">{m.role}</td>
                  <td>{formatDate(m.joinedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </Section>
  );
}
