import { NavLink, Outlet } from 'react-router';
import { RequireSignedIn, useMe, UserMenu } from '../auth/session.tsx';
import { Shell } from '../ui/layout.tsx';
import { OrganizationSwitcher } from './OrganizationSwitcher.tsx';

export function TenantShell() {
  return (
    <RequireSignedIn>
      <TenantLayout />
    </RequireSignedIn>
  );
}

function TenantLayout() {
  const me = useMe();
  return (
    <Shell
      brand="Keel"
      home="/app"
      nav={
        <>
          <NavLink to="/app" end>
            Home
          </NavLink>
          {me.user.staff ? <NavLink to="/ops">Ops console</NavLink> : null}
        </>
      }
      actions={
        <>
          <OrganizationSwitcher />
          <UserMenu />
        </>
      }
    >
      <Outlet />
    </Shell>
  );
}
