import {
  ChangeSetType,
  type EntityMetadata,
  type EventSubscriber,
  type FlushEventArgs,
} from '@mikro-orm/core';
import { TENANT_FILTER, type TenantFilterArgs } from './tenant-filter.ts';

export class TenantViolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TenantViolationError';
  }
}

const isTenantOwned = (meta: EntityMetadata): boolean => Boolean(meta.filters[TENANT_FILTER]);

function organizationIdOf(entity: Record<string, unknown>): string | undefined {
  const org = entity.organization as { id?: unknown } | string | undefined | null;
  if (typeof org === 'string') return org;
  return typeof org?.id === 'string' ? org.id : undefined;
}

/**
 * Closes the write paths that ORM filters do not cover: `getReference(id)` + modify/remove + flush, and entities
 * created or loaded under one tenant and flushed under another. Every tenant-owned entity in a flush must belong to
 * the organization the EntityManager is scoped to; a create without an organization gets the scope's. Entities
 * that are uninitialized references cannot prove their organization and are refused.
 */
export class TenantGuard implements EventSubscriber {
  onFlush({ em, uow }: FlushEventArgs): void {
    for (const cs of uow.getChangeSets()) {
      if (!isTenantOwned(cs.meta)) continue;
      const params = em.getFilterParams<TenantFilterArgs>(TENANT_FILTER) as
        Partial<TenantFilterArgs> | undefined;
      const scopeOrg = params?.organizationId;
      if (!scopeOrg) {
        throw new TenantViolationError(
          `Refusing to ${cs.type} ${cs.meta.className} outside a tenant scope (use runInTenant)`,
        );
      }
      const entity = cs.entity as Record<string, unknown>;
      if (cs.type === ChangeSetType.CREATE && entity.organization == null) {
        entity.organization = em.getReference(cs.meta.properties.organization!.targetMeta!.class, scopeOrg);
        uow.recomputeSingleChangeSet(cs.entity);
      }
      const entityOrg =
        organizationIdOf(entity) ??
        (typeof cs.payload.organization === 'string' ? cs.payload.organization : undefined);
      if (entityOrg !== scopeOrg) {
        throw new TenantViolationError(
          entityOrg
            ? `Refusing to ${cs.type} ${cs.meta.className} of another organization`
            : `Refusing to ${cs.type} ${cs.meta.className} whose organization is not loaded`,
        );
      }
    }
  }
}
