import {
  ChangeSetType,
  type ChangeSet,
  type EntityManager,
  type EventSubscriber,
  type FlushEventArgs,
  type TransactionEventArgs,
} from '@mikro-orm/core';
import type { Logger } from '../../platform/logger/logger.ts';
import { accessKey, type AccessChange } from '../access/access-change.ts';
import { ApiToken, type IApiToken } from '../auth/api-token.entity.ts';
import { sessionAccessKey } from '../auth/session.store.ts';
import { User, type IUser } from '../auth/user.entity.ts';
import { Membership, type IMembership } from '../tenancy/membership.entity.ts';
import { Organization, type IOrganization } from '../tenancy/organization.entity.ts';

/** The revocation keys a live subscription depends on. */
export function accessKeys(p: {
  userId: string;
  organizationId: string | null;
  tokenId: string | null;
  sessionId: string | null;
}): string[] {
  const keys = [accessKey.user(p.userId)];
  if (p.organizationId)
    keys.push(accessKey.org(p.organizationId), accessKey.member(p.organizationId, p.userId));
  if (p.tokenId) keys.push(accessKey.token(p.tokenId));
  if (p.sessionId) keys.push(sessionAccessKey(p.sessionId));
  return keys;
}

const idOf = (ref: unknown): string | undefined =>
  typeof ref === 'string' ? ref : ((ref as { id?: string } | null | undefined)?.id ?? undefined);

interface Keys {
  revoked: string[];
  changed: string[];
}

function keysOf(cs: ChangeSet<object>): Keys {
  const none: Keys = { revoked: [], changed: [] };
  const cls = cs.meta.class;
  // A created row grants access rather than taking it away: announcing it would only make the subscriptions
  // opened right after it recheck for nothing (and nothing is cached for what did not exist).
  if (cs.type === ChangeSetType.CREATE) return none;
  const changed = (prop: string) => cs.type === ChangeSetType.DELETE || prop in cs.payload;
  if (cls === Membership.class) {
    const m = cs.entity as IMembership;
    const org = idOf(m.organization);
    const user = idOf(m.user);
    if (!org || !user || !changed('role')) return none;
    return { revoked: [accessKey.member(org, user)], changed: [] };
  }
  if (cls === ApiToken.class) {
    const key = accessKey.token((cs.entity as IApiToken).id);
    if (changed('revokedAt') || changed('expiresAt') || changed('abilities'))
      return { revoked: [key], changed: [] };
    return none;
  }
  // Any other change to an organization or a user (name, slug, settings, current organization…) is in the cached
  // principals and memberships: those are refreshed, and only what removes access ends subscriptions.
  if (cls === Organization.class) {
    const key = accessKey.org((cs.entity as IOrganization).id);
    return changed('active') ? { revoked: [key], changed: [] } : { revoked: [], changed: [key] };
  }
  if (cls === User.class) {
    const key = accessKey.user((cs.entity as IUser).id);
    return changed('staff') || changed('passwordHash')
      ? { revoked: [key], changed: [] }
      : { revoked: [], changed: [key] };
  }
  return none;
}

/**
 * Turns writes that take access away (a membership removed or its role changed, a token revoked, an organization
 * suspended, a user's staff flag or password changed, a user deleted) into an access change, applied once the change
 * is committed: every process drops its cached principals and memberships for them and confirms (the write's call
 * waits for that), then the live subscriptions depending on them recheck and read the new state. Writes that bypass
 * the unit of work (`nativeUpdate`) announce themselves with `announceRevocation` / `announceChange`.
 */
export class AccessWatcher implements EventSubscriber {
  private readonly pending = new WeakMap<object, { revoked: Set<string>; changed: Set<string> }>();

  constructor(
    private readonly apply: (change: AccessChange) => Promise<void>,
    private readonly logger?: Logger,
  ) {}

  async announce(em: EntityManager, keys: Keys): Promise<void> {
    if (!keys.revoked.length && !keys.changed.length) return;
    const tx = em.isInTransaction() ? (em.getTransactionContext() as object | undefined) : undefined;
    if (tx) {
      let set = this.pending.get(tx);
      if (!set) this.pending.set(tx, (set = { revoked: new Set(), changed: new Set() }));
      for (const k of keys.revoked) set.revoked.add(k);
      for (const k of keys.changed) set.changed.add(k);
      return;
    }
    await this.send(keys);
  }

  private async send(keys: Keys): Promise<void> {
    try {
      await this.apply(keys);
    } catch (err) {
      this.logger?.error(
        { err, keys },
        'access change not applied everywhere; caches expire and rechecks catch it',
      );
    }
  }

  async afterFlush({ em, uow }: FlushEventArgs): Promise<void> {
    const all = [...uow.getChangeSets()].map((cs) => keysOf(cs as ChangeSet<object>));
    await this.announce(em, {
      revoked: [...new Set(all.flatMap((k) => k.revoked))],
      changed: [...new Set(all.flatMap((k) => k.changed))],
    });
  }

  async afterTransactionCommit({ transaction }: TransactionEventArgs): Promise<void> {
    if (!transaction) return;
    const set = this.pending.get(transaction);
    if (!set) return;
    this.pending.delete(transaction);
    // A savepoint's parent is not reachable from here, so its changes go out when the savepoint is released: a
    // recheck that still reads the old state is caught by the periodic revalidation.
    await this.send({ revoked: [...set.revoked], changed: [...set.changed] });
  }

  afterTransactionRollback({ transaction }: TransactionEventArgs): void {
    if (transaction) this.pending.delete(transaction);
  }
}

async function announce(em: EntityManager, keys: Keys): Promise<void> {
  for (const s of em.getEventManager().getSubscribers()) {
    if (s instanceof AccessWatcher) await s.announce(em, keys);
  }
}

/**
 * For revocations written around the unit of work (bulk updates): drops the cached principals everywhere and ends
 * the affected live subscriptions, once committed (at once outside a transaction: await it).
 */
export function announceRevocation(em: EntityManager, keys: string[]): Promise<void> {
  return announce(em, { revoked: keys, changed: [] });
}

/** For other writes around the unit of work that cached principals reflect (a user's current organization). */
export function announceChange(em: EntityManager, keys: string[]): Promise<void> {
  return announce(em, { revoked: [], changed: keys });
}
