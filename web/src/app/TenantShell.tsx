import { Link, NavLink, Outlet } from 'react-router';
import { RequireSignedIn, useMe, UserMenu } from '../auth/session.tsx';
import { accessTo, childPath, routesOf } from '../routes.ts';
import { Shell } from '../ui/layout.tsx';
import { ConnectionBanner } from './ConnectionBanner.tsx';
import { OrganizationSwitcher } from './OrganizationSwitcher.tsx';
import './app.css';

export function TenantShell() {
  return (
    <RequireSignedIn>
      <TenantLayout />
    </RequireSignedIn>
  );
}

function TenantLayout() {
  const me = useMe();
  const org = me.organization;
  const can = (ability: (typeof me.abilities)[number]) => me.abilities.includes(ability);
  return (
    <Shell
      brand="Keel"
      home="/app"
      nav={
        <>
          {routesOf('app')
            .filter((r) => 'nav' in r && accessTo(r.needs, me).ok)
            .map((r) => (
              <NavLink key={r.id} to={r.path} end={childPath(r) === ''}>
                {r.title}
              </NavLink>
            ))}
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
      <ConnectionBanner />
      {org && !org.active ? (
        <div className="notice notice-danger" role="alert">
          {org.name} is suspended: most actions are blocked.{' '}
          {can('billing:manage') ? (
            <Link to="/app/billing">Review billing to restore the account</Link>
          ) : (
            'Ask an owner to review billing.'
          )}
        </div>
      ) : null}
      <Outlet key={org?.id ?? 'none'} />
    </Shell>
  );
}
