import type { Redis } from 'ioredis';
import type { QueueName } from './definition.ts';
import type { IndexRecord, JobIndex } from './job-index.ts';
import type { QueueKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import { envelopeOf } from './store.ts';

/**
 * Cancels waiting and delayed jobs of one queue (an operator's bulk cancel, ADR 0026): each is taken out of the
 * queue and its index record says `cancelled`, its unique lock released, as if a worker had skipped it. A running
 * job, a batch step or a chain step is left alone (see the script). Resolves to the ids cancelled.
 */
export async function cancelWaiting(
  redis: Redis,
  keys: QueueKeys,
  index: Pick<JobIndex, 'outcome'>,
  queue: QueueName,
  ids: string[],
  worker: string,
): Promise<string[]> {
  if (!ids.length) return [];
  const k = keys.store(queue);
  const taken = (await scripts.cancel(
    redis,
    [k.waiting, k.delayed, k.active, k.jobs, k.orgOf, k.orgs],
    [k.orgWaiting, ...ids],
  )) as string[];
  const now = Date.now();
  const cancelled: string[] = [];
  const records: IndexRecord[] = [];
  for (let i = 0; i < taken.length; i += 2) {
    const id = taken[i]!;
    cancelled.push(id);
    records.push(
      index.outcome(id, queue, envelopeOf(taken[i + 1]!), {
        status: 'cancelled',
        startedAt: now,
        finishedAt: now,
        worker,
      }),
    );
  }
  if (records.length) await scripts.indexWrite(redis, [], records.flat());
  return cancelled;
}
