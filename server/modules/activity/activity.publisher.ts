import {
  ChangeSetType,
  wrap,
  type EntityManager,
  type EventSubscriber,
  type FlushEventArgs,
  type TransactionEventArgs,
  type UnitOfWork,
} from '@mikro-orm/core';
import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { Retention } from '../../platform/pubsub/event-log.ts';
import type { IOutboxMessage } from '../realtime/outbox.entity.ts';
import { relayOutbox, stageMessages, type OutboxDeps } from '../realtime/outbox.ts';
import { ActivityLog, type IActivityLog } from './activity.entity.ts';

export const activityChannel = (organizationId: string) => `org:${organizationId}:activity`;
/** How long `activity.onNew` can replay what a reconnecting client missed; beyond it the client is told to resync. */
export const ACTIVITY_RETENTION: Retention = { maxLen: 1000, maxAgeMs: 24 * 60 * 60_000 };

export function toActivityOutput(a: IActivityLog): ActivityOutput {
  return {
    id: a.id,
    action: a.action,
    userId: a.user?.id ?? null,
    userName: a.user?.name ?? null,
    subjectType: a.subjectType ?? null,
    subjectId: a.subjectId ?? null,
    createdAt: a.createdAt,
  };
}

/**
 * Announces activity rows to live subscribers through the realtime outbox (outbox.ts), as document changes are:
 * every flush that writes activity rows also writes their announcements, in the same transaction, so an activity
 * committed while Redis is down (or by a process that dies before publishing) is announced later by the outbox
 * sweep (`realtime:outbox`, every 10 s), never lost; a rolled-back one is never announced.
 *
 * The announcements are published once their transaction has committed: after the flush when the flush commits on
 * its own, at the commit of the enclosing `em.transactional` otherwise. A flush inside a nested transaction (a
 * savepoint) leaves them to the sweep: a savepoint's release is not the commit.
 */
export class ActivityPublisher implements EventSubscriber {
  /** Staged by a flush that commits on its own (no enclosing transaction), relayed after it. */
  private readonly byFlush = new WeakMap<UnitOfWork, IOutboxMessage[]>();
  /** Staged by flushes inside an enclosing transaction, relayed when that transaction commits. */
  private readonly byTransaction = new WeakMap<object, IOutboxMessage[]>();

  /** `em` is the root EntityManager: relays run in a scope of their own, after the writer's transaction ended. */
  constructor(private readonly deps: OutboxDeps & { em: Em }) {}

  async onFlush({ em, uow }: FlushEventArgs): Promise<void> {
    // A flush that failed never reached afterFlush: what it staged was never committed.
    this.byFlush.delete(uow);
    const rows = uow
      .getChangeSets()
      .filter((cs) => cs.type === ChangeSetType.CREATE && cs.meta.class === ActivityLog.class)
      .map((cs) => cs.entity as IActivityLog);
    if (!rows.length) return;
    await assignIds(em, uow, rows);
    const names = await actorNames(em, rows);
    const staged = rows.map((row) => {
      const out = toActivityOutput(row);
      if (out.userId && out.userName === null) out.userName = names.get(out.userId) ?? null;
      const organizationId = row.organization.id;
      const [message] = stageMessages(em, this.deps.log, organizationId, [
        { channel: activityChannel(organizationId), data: out, retention: ACTIVITY_RETENTION },
      ]);
      uow.computeChangeSet(message!);
      return message!;
    });
    if (!em.isInTransaction()) {
      this.byFlush.set(uow, staged);
      return;
    }
    const trx = em.getTransactionContext<object>();
    if (!trx || 'savepointName' in trx) return;
    this.byTransaction.set(trx, [...(this.byTransaction.get(trx) ?? []), ...staged]);
  }

  afterFlush({ uow }: FlushEventArgs): void {
    const staged = this.byFlush.get(uow);
    this.byFlush.delete(uow);
    if (staged) this.relay(staged);
  }

  afterTransactionCommit({ transaction }: TransactionEventArgs): void {
    if (!transaction) return;
    const staged = this.byTransaction.get(transaction);
    this.byTransaction.delete(transaction);
    if (staged) this.relay(staged);
  }

  afterTransactionRollback({ transaction }: TransactionEventArgs): void {
    if (transaction) this.byTransaction.delete(transaction);
  }

  /**
   * Publishes now, in the background (the writer does not wait for Redis): what cannot be published stays in the
   * outbox for the sweep. Each organization's messages are deleted in its own tenant scope (the outbox has RLS).
   */
  private relay(staged: IOutboxMessage[]): void {
    const byOrg = new Map<string, IOutboxMessage[]>();
    for (const m of staged) byOrg.set(m.organization.id, [...(byOrg.get(m.organization.id) ?? []), m]);
    for (const [organizationId, messages] of byOrg) {
      void withDbScope(this.deps.em, organizationId, (em) => relayOutbox(em, this.deps, messages)).catch(
        (err: unknown) => this.deps.logger.warn({ err }, 'activity not relayed; left to the outbox sweep'),
      );
    }
  }
}

/**
 * Activity ids come from their sequence: the announcement carries the id and is written in the same flush, before
 * the INSERT would have assigned it. One statement for every row of the flush (inside the flush's transaction, if
 * one is open; sequences are not transactional anyway).
 */
async function assignIds(em: EntityManager, uow: UnitOfWork, rows: IActivityLog[]): Promise<void> {
  const missing = rows.filter((r) => r.id === undefined || r.id === null);
  if (!missing.length) return;
  const ids = await em
    .getConnection()
    .execute<{ id: string }[]>(
      `select nextval(pg_get_serial_sequence('activity_log', 'id'))::text as id from generate_series(1, ?)`,
      [missing.length],
      'all',
      em.getTransactionContext(),
    );
  missing.forEach((row, i) => {
    row.id = Number(ids[i]!.id);
    uow.recomputeSingleChangeSet(row);
  });
}

/**
 * The actor's name is on the row only when the flush's EntityManager had loaded the user. The signed-in user is a
 * principal read outside the unit of work (ADR 0070), so its row is usually a bare reference: read the names once
 * per flush, on the flush's own transaction when it runs in one (a second connection per writer, taken while the
 * transaction holds the first, would deadlock the pool under concurrent writes).
 */
async function actorNames(em: EntityManager, rows: IActivityLog[]): Promise<Map<string, string>> {
  const unnamed = [
    ...new Set(rows.flatMap((r) => (r.user && !wrap(r.user).isInitialized() ? [r.user.id] : []))),
  ];
  const names = new Map<string, string>();
  if (!unnamed.length) return names;
  const users = await em
    .getConnection()
    .execute<{ id: string; name: string }[]>(
      `select id, name from users where id in (${unnamed.map(() => '?').join(', ')})`,
      unnamed,
      'all',
      em.getTransactionContext(),
    );
  for (const u of users) names.set(u.id, u.name);
  return names;
}
