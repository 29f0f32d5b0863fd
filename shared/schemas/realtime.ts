import { z } from 'zod';

/**
 * WebSocket close codes Keel uses, so clients can tell a policy close from a network failure. 1009 (frame too
 * big) and 1012 (service restart) are the standard codes; the 4xxx ones are Keel's.
 */
export const REALTIME_CLOSE = {
  FRAME_TOO_LARGE: 1009,
  /** Graceful shutdown: the server sent a `reconnect` request first; connect again (to another process). */
  SERVER_RESTART: 1012,
  /** The client did not read fast enough; reconnect and resume with lastEventId. */
  SLOW_CONSUMER: 4008,
  /** Too many messages per second on this connection. */
  RATE_LIMITED: 4029,
} as const;

/** A Redis Stream id, which is what `tracked()` event ids are; clients send it back as lastEventId. */
export const eventId = z.string().regex(/^\d{1,16}-\d{1,16}$/, 'must be an event id from this stream');

export const lastEventIdInput = { lastEventId: eventId.nullish() };

/** An organization-wide event (members only). `type` is e.g. `document.created`, `member.joined`. */
export const orgEvent = z.object({
  type: z.string(),
  actorId: z.string().nullable(),
  subjectId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  at: z.string(),
});
export type OrgEvent = z.infer<typeof orgEvent>;

export const notification = z.object({
  type: z.string(),
  title: z.string(),
  body: z.string().nullable(),
  organizationId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  at: z.string(),
});
export type Notification = z.infer<typeof notification>;

export const JOB_KINDS = ['export', 'import', 'batch'] as const;
export const jobProgress = z.object({
  jobId: z.string(),
  kind: z.enum(JOB_KINDS),
  status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']),
  /** 0 … 1, or null when the total is unknown. */
  progress: z.number().min(0).max(1).nullable(),
  processed: z.number().int().min(0).nullable(),
  total: z.number().int().min(0).nullable(),
  message: z.string().nullable(),
  at: z.string(),
});
export type JobProgress = z.infer<typeof jobProgress>;

export const jobsProgressInput = z
  .object({ jobId: z.string().min(1).max(100).optional(), ...lastEventIdInput })
  .strict();

/** One process's live figures, sampled every second. */
export const metricsSample = z.object({
  process: z.string(),
  at: z.string(),
  rssMb: z.number(),
  heapUsedMb: z.number(),
  cpuPercent: z.number(),
  eventLoopLagMs: z.number(),
  connections: z.number(),
  subscriptions: z.number(),
  messagesOut: z.number(),
  messagesIn: z.number(),
  droppedSlow: z.number(),
  rateLimited: z.number(),
});
export type MetricsSample = z.infer<typeof metricsSample>;

/** Marks that events were lost beyond the retention window: refetch state, then keep listening. */
export const resyncEvent = z.object({ type: z.literal('resync') });
