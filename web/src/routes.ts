import { ROLE_ABILITIES, ROLES, type Ability, type Role } from '../../shared/permissions.ts';

/**
 * Every page of the tenant app and the operations console, with what the signed-in user needs to use it. The
 * router, the navigation of both shells, the page guard and the browser route walk (e2e/route-walk.spec.ts) all
 * read this one table, so a page the navigation hides is a page the guard refuses and the walk checks, and a new
 * page is walked as soon as it is added here. Plain data (no components), so Node can import it too.
 */
export interface PageRoute {
  id: string;
  path: string;
  /** The page's name: the document title and, with `nav`, its link in the shell's navigation. */
  title: string;
  nav?: true;
  needs: Needs;
}

export interface Needs {
  /** A tenant ability of the current organization (every ability implies being in one). */
  ability?: Ability;
  /** Only for an organization's members, whatever their role. */
  organization?: true;
  /** Keel staff only: the operations console. */
  staff?: true;
}

export const ROUTES = [
  { id: 'app.home', path: '/app', title: 'Dashboard', nav: true, needs: {} },
  { id: 'app.documents', path: '/app/documents', title: 'Documents', nav: true, needs: { ability: 'read' } },
  { id: 'app.document', path: '/app/documents/:id', title: 'Document', needs: { ability: 'read' } },
  { id: 'app.exports', path: '/app/exports', title: 'Exports', nav: true, needs: { ability: 'read' } },
  { id: 'app.imports', path: '/app/imports', title: 'Imports', nav: true, needs: { ability: 'read' } },
  { id: 'app.members', path: '/app/members', title: 'Members', nav: true, needs: { ability: 'read' } },
  { id: 'app.tokens', path: '/app/tokens', title: 'API tokens', nav: true, needs: { organization: true } },
  {
    id: 'app.billing',
    path: '/app/billing',
    title: 'Billing',
    nav: true,
    needs: { ability: 'billing:manage' },
  },
  { id: 'ops.home', path: '/ops', title: 'Overview', nav: true, needs: { staff: true } },
  { id: 'ops.queues', path: '/ops/queues', title: 'Queues', nav: true, needs: { staff: true } },
  { id: 'ops.jobs', path: '/ops/jobs', title: 'Jobs', nav: true, needs: { staff: true } },
  { id: 'ops.job', path: '/ops/jobs/:id', title: 'Job', needs: { staff: true } },
  { id: 'ops.batches', path: '/ops/batches', title: 'Batches', nav: true, needs: { staff: true } },
  { id: 'ops.flags', path: '/ops/flags', title: 'Flags', nav: true, needs: { staff: true } },
  { id: 'ops.flag', path: '/ops/flags/:key', title: 'Flag', needs: { staff: true } },
  { id: 'ops.tenants', path: '/ops/tenants', title: 'Tenants', nav: true, needs: { staff: true } },
  { id: 'ops.tenant', path: '/ops/tenants/:id', title: 'Tenant', needs: { staff: true } },
  { id: 'ops.billing', path: '/ops/billing', title: 'Billing', nav: true, needs: { staff: true } },
  { id: 'ops.alerts', path: '/ops/alerts', title: 'Alerts', nav: true, needs: { staff: true } },
  {
    id: 'ops.performance',
    path: '/ops/performance',
    title: 'Performance',
    nav: true,
    needs: { staff: true },
  },
  { id: 'ops.audit', path: '/ops/audit', title: 'Audit', nav: true, needs: { staff: true } },
] as const satisfies readonly PageRoute[];

export type Route = (typeof ROUTES)[number];
export type RouteId = Route['id'];
export type Area = 'app' | 'ops';

export function areaOf(route: PageRoute): Area {
  return route.path.startsWith('/ops') ? 'ops' : 'app';
}

/** The document title of a page: `Documents · Keel`, `Queues · Keel Ops`. */
export function pageTitle(route: PageRoute): string {
  return `${route.title} · ${areaOf(route) === 'ops' ? 'Keel Ops' : 'Keel'}`;
}

export function routesOf(area: Area): Route[] {
  return ROUTES.filter((r) => areaOf(r) === area);
}

/** The part of `auth.me` access depends on. */
export interface Viewer {
  user: { staff: boolean };
  organization: { name: string; role: Role } | null;
  abilities: readonly Ability[];
}

export type Access =
  | { ok: true }
  | { ok: false; reason: 'staff' }
  | { ok: false; reason: 'organization' }
  | { ok: false; reason: 'ability'; ability: Ability; managedBy: Role[] };

export function accessTo(needs: Needs, viewer: Viewer): Access {
  if (needs.staff && !viewer.user.staff) return { ok: false, reason: 'staff' };
  if ((needs.organization || needs.ability) && !viewer.organization)
    return { ok: false, reason: 'organization' };
  if (needs.ability && !viewer.abilities.includes(needs.ability)) {
    const ability = needs.ability;
    return {
      ok: false,
      reason: 'ability',
      ability,
      managedBy: ROLES.filter((r) => ROLE_ABILITIES[r].includes(ability)),
    };
  }
  return { ok: true };
}

/** The path inside its area, as a nested <Route> takes it: `/app/documents/:id` → `documents/:id`, `/app` → ''. */
export function childPath(route: PageRoute): string {
  return route.path.replace(/^\/(app|ops)\/?/, '');
}
