import { Link, NavLink, Outlet } from 'react-router';
import { RequireSignedIn, useMe, UserMenu } from '../auth/session.tsx';
import { accessTo, childPath, routesOf } from '../routes.ts';
import { Shell } from '../ui/layout.tsx';
import { EmptyState } from '../ui/states.tsx';
import './ops.css';
import { StaffOnly } from './StaffOnly.tsx';

export function OpsShell() {
  return (
    <RequireSignedIn>
      <OpsLayout />
    </RequireSignedIn>
  );
}

function OpsLayout() {
  const me = useMe();
  // The server refuses every ops procedure to non-staff (STAFF_ONLY); this only spares them a page of errors. Every
  // console page needs staff (web/src/routes.ts), so the whole console is refused at once, outside its frame.
  if (!accessTo({ staff: true }, me).ok) return <StaffOnly />;
  return (
    <Shell
      brand="Keel Ops"
      home="/ops"
      nav={
        <>
          {routesOf('ops')
            .filter((r) => 'nav' in r)
            .map((r) => (
              <NavLink key={r.id} to={r.path} end={childPath(r) === ''}>
                {r.title}
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
