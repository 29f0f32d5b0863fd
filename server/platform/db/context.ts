import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager } from '@mikro-orm/sql';
import { requestScoped } from '../async/detached.ts';
import { TENANT_FILTER } from './tenant-filter.ts';

export type Em = EntityManager;

interface DbScope {
  readonly em: Em;
  organizationId: string | undefined;
}

// One EntityManager fork per request / job / script step, found through AsyncLocalStorage. The global EM is never
// used for queries (allowGlobalContext: false), so state cannot leak between requests through the identity map.
const scopes = requestScoped(new AsyncLocalStorage<LazyScope>());

/** A scope whose fork is made on first use: most jobs and many requests never query. */
class LazyScope implements DbScope {
  private forked: Em | undefined;

  /** The scope this one was opened in: MikroORM forks from the context EntityManager, which is the parent's. */
  readonly parent = scopes.getStore();

  constructor(
    private readonly rootEm: Em,
    public organizationId: string | undefined,
  ) {}

  /** True while the fork is being made: MikroORM's fork() asks for the context EntityManager (the parent's then). */
  forking = false;

  get em(): Em {
    if (!this.forked) {
      this.forking = true;
      try {
        this.forked = this.rootEm.fork({ clear: true, useContext: false }) as Em;
      } finally {
        this.forking = false;
      }
      if (this.organizationId) scopeTenant(this.forked, this.organizationId);
    }
    return this.forked;
  }

  /** The fork, if one was made. */
  get made(): Em | undefined {
    return this.forked;
  }
}

export function currentScope(): DbScope | undefined {
  return scopes.getStore();
}

export function contextEm(): Em | undefined {
  const scope = scopes.getStore();
  return scope?.forking ? scope.parent?.em : scope?.em;
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
  // Superusers and table owners bypass RLS; running the tenant's statements as the application role makes the
  // database enforce the same boundary as the ORM filter, so raw SQL cannot read another tenant's rows either. The
  // role and the filter's variable reach the pooled connection through tenant-scope.ts (ADR 0012).
  em.setSessionContext({ role: APP_DB_ROLE });
}

/** Runs fn with a fresh EntityManager fork; with an organization id the fork is scoped to that tenant. */
export function withDbScope<T>(rootEm: Em, organizationId: string | undefined, fn: (em: Em) => T): T {
  const scope = new LazyScope(rootEm, organizationId);
  return scopes.run(scope, () => fn(scope.em));
}

/** As withDbScope, but the fork is only made when `scope.em` is first read. */
export function withLazyDbScope<T>(
  rootEm: Em,
  organizationId: string | undefined,
  fn: (scope: { readonly em: Em }) => T,
): T {
  const scope = new LazyScope(rootEm, organizationId);
  return scopes.run(scope, () => fn(scope));
}

/** Narrows the current request's scope to a tenant once it is resolved (after authentication). */
export function enterTenant(organizationId: string): void {
  const scope = scopes.getStore();
  if (!scope) throw new Error('No database scope to enter a tenant in');
  if (scope.organizationId && scope.organizationId !== organizationId) {
    throw new Error('This scope already belongs to another organization');
  }
  scope.organizationId = organizationId;
  // A fork made before the tenant was known is narrowed now; one made later is scoped when it is made.
  if (scope.made) scopeTenant(scope.made, organizationId);
}
