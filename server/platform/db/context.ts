import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from '@mikro-orm/sql';
import { TENANT_FILTER } from './tenant-filter.ts';

export type Em = EntityManager;

interface DbScope {
  em: Em;
  organizationId: string | undefined;
}

// One EntityManager fork per request / job / script step, found through AsyncLocalStorage. The global EM is never
// used for queries (allowGlobalContext: false), so state cannot leak between requests through the identity map.
const scopes = new AsyncLocalStorage<DbScope>();

export function currentScope(): DbScope | undefined {
  return scopes.getStore();
}

export function contextEm(): Em | undefined {
  return scopes.getStore()?.em;
}

export function requireEm(): Em {
  const scope = scopes.getStore();
  if (!scope) throw new Error('No database scope: wrap the call in withDbScope() or runInTenant()');
  return scope.em;
}

export function currentOrganizationId(): string | undefined {
  return scopes.getStore()?.organizationId;
}

/** The application role that row-level-security policies apply to (created by the first migration). */
export const APP_DB_ROLE = 'keel_app';

function scopeTenant(em: Em, organizationId: string): void {
  em.setFilterParams(TENANT_FILTER, { organizationId });
  // Superusers and table owners bypass RLS; switching to the application role for each transaction makes the
  // database enforce the same boundary as the ORM filter, so raw SQL cannot read another tenant's rows either.
  em.setSessionContext({ role: APP_DB_ROLE });
}

/** Runs fn with a fresh EntityManager fork; with an organization id the fork is scoped to that tenant. */
export function withDbScope<T>(rootEm: Em, organizationId: string | undefined, fn: (em: Em) => T): T {
  const em = rootEm.fork({ clear: true, useContext: false }) as Em;
  if (organizationId) scopeTenant(em, organizationId);
  return scopes.run({ em, organizationId }, () => fn(em));
}

/** Narrows the current request's scope to a tenant once it is resolved (after authentication). */
export function enterTenant(organizationId: string): void {
  const scope = scopes.getStore();
  if (!scope) throw new Error('No database scope to enter a tenant in');
  if (scope.organizationId && scope.organizationId !== organizationId) {
    throw new Error('This scope already belongs to another organization');
  }
  scope.organizationId = organizationId;
  scopeTenant(scope.em, organizationId);
}
