import { z } from 'zod';

// Inputs of the operations console's queue, job, batch and worker procedures.

export const QUEUES = ['high', 'default', 'low', 'mail', 'webhooks'] as const;
export const queueName = z.enum(QUEUES);

const id = z.string().trim().min(1).max(100);
const page = {
  limit: z.number().int().min(1).max(100).default(25),
  offset: z.number().int().min(0).max(100_000).default(0),
};

export const queueInput = z.object({ queue: queueName }).strict();

export const metricsInput = z
  .object({
    minutes: z.number().int().min(1).max(180).default(60),
    queue: queueName.optional(),
    name: z.string().trim().max(120).optional(),
  })
  .strict();

export const jobListInput = z
  .object({
    list: z.enum(['recent', 'completed', 'failed']),
    tag: z.string().trim().min(1).max(120).optional(),
    ...page,
  })
  .strict();

export const waitingInput = z.object({ queue: queueName, ...page }).strict();

export const jobIdInput = z.object({ id }).strict();

export const failedFilter = z
  .object({
    queue: queueName.optional(),
    name: z.string().trim().max(120).optional(),
    organizationId: z.uuid().optional(),
    search: z.string().trim().max(200).optional(),
  })
  .strict();

export const failedListInput = z.object({ filter: failedFilter.default({}), ...page }).strict();

export const retryManyInput = z.union([
  z.object({ ids: z.array(id).min(1).max(500) }).strict(),
  z
    .object({
      all: z.literal(true),
      filter: failedFilter.default({}),
      limit: z.number().int().min(1).max(1000).default(500),
    })
    .strict(),
]);

export const pruneInput = z.object({ olderThanDays: z.number().int().min(0).max(3650) }).strict();

export const batchListInput = z.object(page).strict();
export const batchIdInput = z.object({ id: z.uuid() }).strict();
