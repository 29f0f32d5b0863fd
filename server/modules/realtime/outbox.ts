import { LockMode, type EntityManager } from '@mikro-orm/core';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
import { OutboxMessage, type IOutboxMessage } from './outbox.entity.ts';

export interface OutboxMessageInput {
  channel: string;
  data: unknown;
  retention: Retention;
}

export interface OutboxDeps {
  log: EventLog;
  logger: Logger;
}

/**
 * Stages event-log messages in the unit of work of the change they announce (a tenant scope): they are written by
 * the same flush, so they exist if and only if the change committed. Hand the result to `relayOutbox` once it has.
 */
export function stageMessages(
  em: EntityManager,
  log: EventLog,
  organizationId: string,
  messages: OutboxMessageInput[],
): IOutboxMessage[] {
  return messages.map((m) =>
    em.create(OutboxMessage, {
      organization: organizationId,
      keySpace: log.keySpace,
      channel: m.channel,
      payload: m.data,
      maxLen: m.retention.maxLen,
      maxAgeMs: m.retention.maxAgeMs,
    }),
  );
}

const publishRow = (log: EventLog, row: IOutboxMessage) =>
  log.publish(row.channel, row.payload, { maxLen: row.maxLen, maxAgeMs: row.maxAgeMs });

/**
 * Publishes committed messages at once and deletes them. The change is saved whatever happens here: a message that
 * cannot be published now (Redis down) stays in the outbox for `sweepOutbox`, so it is late, not lost.
 */
export async function relayOutbox(em: Em, deps: OutboxDeps, rows: IOutboxMessage[]): Promise<void> {
  if (!rows.length) return;
  const results = await Promise.allSettled(rows.map((row) => publishRow(deps.log, row)));
  const published = rows.filter((_, i) => results[i]!.status === 'fulfilled');
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    deps.logger.warn(
      { err: failed.reason, channels: rows.map((r) => r.channel) },
      'event not published yet; kept in the outbox',
    );
  }
  if (!published.length) return;
  // If this delete fails the sweep publishes them again: subscribers see a repeat, never a gap.
  await em
    .nativeDelete(OutboxMessage, { id: { $in: published.map((r) => r.id) } })
    .catch((err: unknown) => deps.logger.warn({ err }, 'published outbox messages not deleted'));
}

/**
 * Publishes, oldest first, what relays left behind: messages of changes committed while Redis was down or by a
 * process that died before publishing. Only messages older than `graceMs` (a relay in progress finishes well
 * within it); rows are locked while published, so sweepers on several processes never share one. Returns how many
 * went out; the first failure stops the sweep (the rest waits for the next one).
 */
export async function sweepOutbox(
  rootEm: Em,
  deps: OutboxDeps,
  opts: { graceMs?: number; batch?: number } = {},
): Promise<number> {
  const { graceMs = 10_000, batch = 200 } = opts;
  let sent = 0;
  for (;;) {
    const { published, failure } = await withDbScope(rootEm, undefined, (em) =>
      em.transactional(async (tx) => {
        const rows = await tx.find(
          OutboxMessage,
          { keySpace: deps.log.keySpace, createdAt: { $lt: new Date(Date.now() - graceMs) } },
          {
            orderBy: { id: 'asc' },
            limit: batch,
            lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE,
            // Every tenant's messages: the fork has no tenant, so row-level security does not narrow it either.
            filters: { [TENANT_FILTER]: false },
          },
        );
        const done: number[] = [];
        let error: unknown = null;
        for (const row of rows) {
          try {
            await publishRow(deps.log, row);
            done.push(row.id);
          } catch (err) {
            error = err;
            break;
          }
        }
        if (done.length) {
          await tx.nativeDelete(
            OutboxMessage,
            { id: { $in: done } },
            { filters: { [TENANT_FILTER]: false } },
          );
        }
        return { published: done.length, failure: error };
      }),
    );
    sent += published;
    if (failure) {
      deps.logger.warn({ err: failure, published }, 'outbox sweep stopped: publishing failed');
      return sent;
    }
    if (published < batch) return sent;
  }
}
