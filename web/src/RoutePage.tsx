import { Suspense, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { Role } from '../../shared/permissions.ts';
import { useMe } from './auth/session.tsx';
import { Loading } from './ui/states.tsx';
import { accessTo, pageTitle, type Access, type PageRoute } from './routes.ts';

/**
 * A page of the route table, shown only to who may use it. Anyone else (a link, a bookmark, an old tab) gets a page
 * saying who may, and the page's own component never mounts, so it calls no procedure the role cannot call.
 */
export function RoutePage({ route, children }: { route: PageRoute; children: ReactNode }) {
  const me = useMe();
  const access = accessTo(route.needs, me);
  return (
    <>
      {/* React hoists <title> into the document head: every page of the table names itself in the tab. */}
      <title>{pageTitle(route)}</title>
      {access.ok ? (
        <Suspense fallback={<Loading label={`Loading ${route.title.toLowerCase()}…`} />}>{children}</Suspense>
      ) : (
        <NotAvailable title={route.title} access={access} />
      )}
    </>
  );
}

const plural: Record<Role, string> = { owner: 'owners', admin: 'admins', member: 'members' };

function listOf(roles: Role[]): string {
  const names = roles.map((r) => plural[r]);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : (names[0] ?? '');
}

/**
 * The refusal of a tenant page. A console page refused for want of staff never gets here: the console's layout
 * (ops/OpsShell.tsx) shows its own "Staff only" page before any page of it renders.
 */
function NotAvailable({ title, access }: { title: string; access: Exclude<Access, { ok: true }> }) {
  const me = useMe();
  const org = me.organization;
  return (
    <div className="page">
      <div className="state state-refused" data-testid="not-available">
        {access.reason === 'ability' && org ? (
          <>
            <h1>{title} is not available to your role</h1>
            <p>
              You are {org.role === 'admin' || org.role === 'owner' ? 'an' : 'a'} {org.role} of {org.name}.
              Only {listOf(access.managedBy)} of {org.name} can use this page: ask one of them if something
              here needs doing.
            </p>
          </>
        ) : (
          <>
            <h1>{title} belongs to an organization</h1>
            <p>You are not in an organization yet. Ask an owner to invite you.</p>
          </>
        )}
        <p>
          <Link to={me.user.staff && !org ? '/ops' : '/app'}>
            {me.user.staff && !org ? 'Go to the ops console' : 'Go to the dashboard'}
          </Link>
        </p>
      </div>
    </div>
  );
}
