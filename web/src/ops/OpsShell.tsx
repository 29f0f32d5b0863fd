import { NavLink, Outlet } from 'react-router';
import { RequireSignedIn, useMe, UserMenu } from '../auth/session.tsx';
import { Shell } from '../ui/layout.tsx';
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
  // The server refuses every ops procedure to non-staff (STAFF_ONLY); this only spares them a page of errors.
  if (!me.user.staff) return <StaffOnly />;
  return (
    <Shell
      brand="Keel Ops"
      home="/ops"
      nav={
        <>
          <NavLink to="/ops" end>
            Overview
          </NavLink>
          {me.organization ? <NavLink to="/app">Tenant app</NavLink> : null}
        </>
      }
      actions={<UserMenu />}
    >
      <Outlet />
    </Shell>
  );
}
