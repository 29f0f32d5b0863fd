import { Link, NavLink, Outlet } from 'react-router';
import { RequireSignedIn, useMe, UserMenu } from '../auth/session.tsx';
import { Shell } from '../ui/layout.tsx';
import { EmptyState } from '../ui/states.tsx';
import './ops.css';
import { StaffOnly } from './StaffOnly.tsx';

const PAGES: { to: string; label: string; end?: boolean }[] = [
  { to: '/ops', label: 'Overview', end: true },
  { to: '/ops/queues', label: 'Queues' },
  { to: '/ops/jobs', label: 'Jobs' },
  { to: '/ops/batches', label: 'Batches' },
  { to: '/ops/flags', label: 'Flags' },
  { to: '/ops/tenants', label: 'Tenants' },
  { to: '/ops/billing', label: 'Billing' },
  { to: '/ops/alerts', label: 'Alerts' },
  { to: '/ops/performance', label: 'Performance' },
  { to: '/ops/audit', label: 'Audit' },
];

export function OpsShell() {
  return (
    <RequireSignedIn>
      <OpsLayout />
    </RequireSignedIn>
  );
}

function OpsLayout() {
  const me = useMe();
  // The server refuses every ops procedure to non-staff (STAFF_ONLY); this only spares them a page of errors.
  if (!me.user.staff) return <StaffOnly />;
  return (
    <Shell
      brand="Keel Ops"
      home="/ops"
      nav={
        <>
          {PAGES.map((p) => (
            <NavLink key={p.to} to={p.to} end={p.end}>
              {p.label}
            </NavLink>
          ))}
          {me.organization ? <NavLink to="/app">Tenant app</NavLink> : null}
        </>
      }
      actions={<UserMenu />}
    >
      <div className="ops">
        <Outlet />
      </div>
    </Shell>
  );
}

/** An /ops address that is no page of the console (a mistyped or outdated link), inside the console's frame. */
export function OpsNotFound() {
  return (
    <div className="page">
      <EmptyState title="There is no console page at this address">
        <p>
          <Link to="/ops">Go to the overview</Link>
        </p>
      </EmptyState>
    </div>
  );
}
