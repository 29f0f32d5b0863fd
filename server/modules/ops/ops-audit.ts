import type { JsonValue } from '../../../shared/schemas/flags.ts';
import { opsAction, type OpsTargetType } from '../../../shared/schemas/ops.ts';
import type { Em } from '../../platform/db/context.ts';
import { OpsAudit, type IOpsAudit } from './ops-audit.entity.ts';

/** Who did it: the signed-in staff user, or a label for the CLI and scheduled maintenance. */
export type Operator = { id: string; email: string } | { label: string };

export interface OperatorAction {
  operator: Operator;
  /** `<area>.<verb>`: `tenant.suspend`, `job.retry`, `queue.pause`, `flag.kill`, `billing.replay`, … */
  action: string;
  targetType: OpsTargetType;
  /** The target's id (organization id, job id, queue name, flag key, Stripe event id); null for fleet-wide acts. */
  targetId: string | null;
  /** What an auditor needs to understand the act later: reason, counts, before/after. Kept under 16 KB. */
  details?: Record<string, JsonValue>;
  /** The request that did it, to find its logs and trace. */
  requestId?: string | null;
}

const MAX_DETAILS = 16 * 1024;

/** The operator of a tRPC procedure's caller: pass `operatorOf(ctx)` from an ops procedure. */
export function operatorOf(ctx: { auth: { user: { id: string; email: string } } }): Operator {
  return { id: ctx.auth.user.id, email: ctx.auth.user.email };
}

/**
 * Writes one entry of the operator audit log, immediately (an INSERT, not a pending change), on the given
 * EntityManager: inside `em.transactional(...)` the entry commits or rolls back with the action it records. Call it
 * after the action succeeded when the action is not a database write (Redis queue operations, Stripe calls).
 */
export async function recordOperatorAction(em: Em, a: OperatorAction): Promise<number> {
  const action = opsAction.parse(a.action);
  let details: Record<string, JsonValue> = a.details ?? {};
  const size = JSON.stringify(details).length;
  // An oversized detail (a huge payload pasted into a reason) must not make the action itself fail.
  if (size > MAX_DETAILS) details = { truncated: true, bytes: size, keys: Object.keys(details).slice(0, 50) };
  const operator = a.operator;
  const id = await em.insert(OpsAudit, {
    operatorId: 'id' in operator ? operator.id : null,
    operator: ('id' in operator ? operator.email : operator.label).slice(0, 254),
    action,
    targetType: a.targetType,
    targetId: a.targetId === null ? null : a.targetId.slice(0, 255),
    details,
    requestId: a.requestId?.slice(0, 100) ?? null,
    createdAt: new Date(),
  });
  return Number(id);
}

export interface AuditQuery {
  targetType?: string | undefined;
  targetId?: string | undefined;
  operatorId?: string | undefined;
  action?: string | undefined;
  limit: number;
  offset: number;
}

export function toAuditOutput(r: IOpsAudit) {
  return {
    id: r.id,
    operatorId: r.operatorId ?? null,
    operator: r.operator,
    action: r.action,
    targetType: r.targetType,
    targetId: r.targetId ?? null,
    details: r.details,
    requestId: r.requestId ?? null,
    createdAt: r.createdAt,
  };
}
export type AuditEntry = ReturnType<typeof toAuditOutput>;

/** Newest first. */
export async function listOperatorActions(
  em: Em,
  q: AuditQuery,
): Promise<{ total: number; items: AuditEntry[] }> {
  const where = {
    ...(q.targetType ? { targetType: q.targetType } : {}),
    ...(q.targetId ? { targetId: q.targetId } : {}),
    ...(q.operatorId ? { operatorId: q.operatorId } : {}),
    ...(q.action ? { action: q.action } : {}),
  };
  const [rows, total] = await em.findAndCount(OpsAudit, where, {
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: q.limit,
    offset: q.offset,
  });
  return { total, items: rows.map(toAuditOutput) };
}
