import {
  ChangeSetType,
  type ChangeSet,
  type EntityManager,
  type EventSubscriber,
  type FlushEventArgs,
  type TransactionEventArgs,
} from '@mikro-orm/core';
import type { Logger } from '../../platform/logger/logger.ts';
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
  const keys = [`user:${p.userId}`];
  if (p.organizationId) keys.push(`org:${p.organizationId}`, `member:${p.organizationId}:${p.userId}`);
  if (p.tokenId) keys.push(`token:${p.tokenId}`);
  if (p.sessionId) keys.push(sessionAccessKey(p.sessionId));
  return keys;
}

const idOf = (ref: unknown): string | undefined =>
  typeof ref === 'string' ? ref : ((ref as { id?: string } | null | undefined)?.id ?? undefined);

function keysOf(cs: ChangeSet<object>): string[] {
  const cls = cs.meta.class;
  // A created row grants access rather than taking it away: announcing it would only make the subscriptions
  // opened right after it recheck for nothing.
  if (cs.type === ChangeSetType.CREATE) return [];
  const changed = (prop: string) => cs.type === ChangeSetType.DELETE || prop in cs.payload;
  if (cls === Membership.class && changed('role')) {
    const m = cs.entity as IMembership;
    const org = idOf(m.organization);
    const user = idOf(m.user);
    return org && user ? [`member:${org}:${user}`] : [];
  }
  if (cls === ApiToken.class && (changed('revokedAt') || changed('expiresAt') || changed('abilities'))) {
    return [`token:${(cs.entity as IApiToken).id}`];
  }
  if (cls === Organization.class && changed('active')) return [`org:${(cs.entity as IOrganization).id}`];
  if (cls === User.class && (changed('staff') || changed('passwordHash')))
    return [`user:${(cs.entity as IUser).id}`];
  return [];
}

/**
 * Turns writes that take access away (a membership removed or its role changed, a token revoked, an organization
 * suspended, a user's staff flag or password changed) into revocation events, published once the change is
 * committed so that the subscriptions rechecking it read the new state. Writes that bypass the unit of work
 * (`nativeUpdate`) announce themselves with `announceRevocation`.
 */
export class AccessWatcher implements EventSubscriber {
  private readonly pending = new WeakMap<object, Set<string>>();

  constructor(
    private readonly publish: (keys: string[]) => Promise<void>,
    private readonly logger?: Logger,
  ) {}

  announce(em: EntityManager, keys: string[]): void {
    const tx = em.isInTransaction() ? (em.getTransactionContext() as object | undefined) : undefined;
    if (tx) {
      let set = this.pending.get(tx);
      if (!set) this.pending.set(tx, (set = new Set()));
      for (const k of keys) set.add(k);
      return;
    }
    this.send(keys);
  }

  private send(keys: string[]): void {
    this.publish(keys).catch((err: unknown) =>
      this.logger?.error({ err, keys }, 'revocation event not published; the periodic recheck will catch it'),
    );
  }

  afterFlush({ em, uow }: FlushEventArgs): void {
    const keys = [...uow.getChangeSets()].flatMap((cs) => keysOf(cs as ChangeSet<object>));
    if (keys.length) this.announce(em, keys);
  }

  afterTransactionCommit({ transaction }: TransactionEventArgs): void {
    if (!transaction) return;
    const set = this.pending.get(transaction);
    if (!set) return;
    this.pending.delete(transaction);
    // A savepoint's parent is not reachable from here, so its changes go out when the savepoint is released: a
    // recheck that still reads the old state is caught by the periodic revalidation.
    this.send([...set]);
  }

  afterTransactionRollback({ transaction }: TransactionEventArgs): void {
    if (transaction) this.pending.delete(transaction);
  }
}

/** For revocations written around the unit of work (bulk updates): ends the affected live subscriptions. */
export function announceRevocation(em: EntityManager, keys: string[]): void {
  for (const s of em.getEventManager().getSubscribers()) {
    if (s instanceof AccessWatcher) s.announce(em, keys);
  }
}
