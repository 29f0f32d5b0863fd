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

// Job search and bulk actions (ADR 0026).

export const JOB_SEARCH_STATES = [
  'pending',
  'retrying',
  'released',
  'completed',
  'failed',
  'cancelled',
] as const;
export const BULK_ACTIONS = ['retry', 'cancel', 'delete'] as const;

const ms = z.number().int().min(0).max(8.64e15);

export const jobSearchFilter = z
  .object({
    name: z.string().trim().min(1).max(120).optional(),
    /** An organization's id, or `none` for system jobs. */
    organizationId: z.union([z.uuid(), z.literal('none')]).optional(),
    tag: z.string().trim().min(1).max(120).optional(),
    /** Declared payload fields (`indexed` in defineJob), matched exactly. */
    fields: z
      .record(z.string().regex(/^[a-z_][a-z0-9_]{0,59}$/i, 'is not a field name'), z.string().min(1).max(200))
      .refine((f) => Object.keys(f).length <= 5, 'at most 5 fields')
      .optional(),
    state: z.enum(JOB_SEARCH_STATES).optional(),
    /** Dispatch time range, ms since the epoch, inclusive. */
    from: ms.optional(),
    to: ms.optional(),
  })
  .strict()
  .refine((f) => f.from === undefined || f.to === undefined || f.from <= f.to, {
    message: 'from must not be after to',
    path: ['from'],
  });
export type JobSearchFilter = z.infer<typeof jobSearchFilter>;

export const jobSearchInput = z
  .object({
    filter: jobSearchFilter.default({}),
    cursor: z.string().max(200).optional(),
    limit: z.number().int().min(1).max(100).default(25),
  })
  .strict();

export const bulkPreviewInput = z
  .object({ action: z.enum(BULK_ACTIONS), filter: jobSearchFilter.default({}) })
  .strict();

export const bulkInput = z
  .object({
    action: z.enum(BULK_ACTIONS),
    filter: jobSearchFilter.default({}),
    /** The token bulkPreview answered: the action applies to exactly the jobs it counted. */
    confirm: z.uuid(),
  })
  .strict();
