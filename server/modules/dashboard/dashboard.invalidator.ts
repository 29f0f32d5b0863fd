import {
  ChangeSetType,
  type ChangeSet,
  type EventSubscriber,
  type FlushEventArgs,
  type TransactionEventArgs,
} from '@mikro-orm/core';
import type { Cache } from '../../platform/cache/cache.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import { ActivityLog, type IActivityLog } from '../activity/activity.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { TENANT_TAGS } from './dashboard.service.ts';

type Pending = Map<string, Set<string>>;

function orgIdOf(entity: object): string | undefined {
  const org = (entity as { organization?: { id?: string } | string }).organization;
  return typeof org === 'string' ? org : org?.id;
}

function add(pending: Pending, orgId: string | undefined, tag: string): void {
  if (!orgId) return;
  let tags = pending.get(orgId);
  if (!tags) pending.set(orgId, (tags = new Set()));
  tags.add(tag);
}

function tagsOf(changeSets: readonly ChangeSet<object>[]): Pending {
  const pending: Pending = new Map();
  for (const cs of changeSets) {
    const cls = cs.meta.class;
    if (cls === Membership.class) add(pending, orgIdOf(cs.entity), TENANT_TAGS.members);
    else if (cls === ActivityLog.class && cs.type === ChangeSetType.CREATE) {
      const row = cs.entity as IActivityLog;
      add(pending, orgIdOf(row), TENANT_TAGS.activity);
      // Departures feed the churn figure.
      if (row.action.startsWith('member.')) add(pending, orgIdOf(row), TENANT_TAGS.members);
    }
  }
  return pending;
}

/**
 * Flushes tenant read models (dashboard stats, member lists) when the ORM writes what they are built
 * from, so no service has to remember to. Inside a transaction the flush waits for the commit: flushing earlier
 * would let a reader cache the pre-commit state again. Native writes (nativeUpdate/nativeDelete, raw SQL) emit no
 * change sets; code using them on these tables must flush the tags itself.
 */
export class DashboardInvalidator implements EventSubscriber {
  private readonly deferred = new WeakMap<object, Pending>();

  constructor(
    private readonly cache: Cache,
    private readonly logger?: Logger,
  ) {}

  async afterFlush({ em, uow }: FlushEventArgs): Promise<void> {
    const found = tagsOf([...uow.getChangeSets()]);
    if (!found.size) return;
    if (em.isInTransaction()) {
      const pending = this.deferred.get(em) ?? new Map<string, Set<string>>();
      for (const [org, tags] of found) for (const t of tags) add(pending, org, t);
      this.deferred.set(em, pending);
      return;
    }
    await this.flush(found);
  }

  async afterTransactionCommit({ em }: TransactionEventArgs): Promise<void> {
    const pending = this.deferred.get(em);
    if (!pending) return;
    this.deferred.delete(em);
    await this.flush(pending);
  }

  afterTransactionRollback({ em }: TransactionEventArgs): void {
    this.deferred.delete(em);
  }

  private async flush(pending: Pending): Promise<void> {
    await Promise.all(
      [...pending].map(([org, tags]) =>
        this.cache
          .tenant(org)
          .flushTags(...tags)
          .catch((err: unknown) => this.logger?.warn({ err, org }, 'dashboard cache flush failed')),
      ),
    );
  }
}
