import { ORGANIZATION_TIERS, type OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import type { Em } from '../../platform/db/context.ts';
import type { QueueName } from '../../platform/queue/definition.ts';
import type { QueueSystem } from '../../platform/queue/system.ts';

// Fairness between organizations (ADR 0024) as the app sees it: the console's per-organization view of a queue, and
// the plan tiers the queues' takes read, copied from the organizations table.

/** Waiting jobs and running slots per organization in one queue, with the organizations' names. */
export async function queueTenants(em: Em, queue: QueueSystem, name: QueueName) {
  const load = await queue.organizationLoad(name, 100);
  const ids = load.map((l) => l.organizationId);
  const rows = ids.length
    ? await em
        .getConnection()
        .execute<{ id: string; name: string; slug: string }[]>(
          'select id, name, slug from organizations where id in (?)',
          [ids],
        )
    : [];
  const names = new Map(rows.map((r) => [r.id, r]));
  return load.map((l) => ({
    ...l,
    name: names.get(l.organizationId)?.name ?? null,
    slug: names.get(l.organizationId)?.slug ?? null,
  }));
}

const isTier = (t: string): t is OrganizationTier => (ORGANIZATION_TIERS as readonly string[]).includes(t);

/**
 * Copies every paid organization's tier into the queues (the leader's `queue:tiers` task, each minute), so a tier
 * change reaches the caps within a minute and a lost Redis table is written again.
 */
export async function syncQueueTiers(em: Em, queue: QueueSystem): Promise<number> {
  const rows = await em
    .getConnection()
    .execute<{ id: string; tier: string }[]>("select id, tier from organizations where tier <> 'free'");
  return queue.setOrganizationTiers(rows.flatMap((r) => (isTier(r.tier) ? [[r.id, r.tier] as const] : [])));
}
