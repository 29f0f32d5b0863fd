import type { JobProgress, Notification, OrgEvent } from '../../../shared/schemas/realtime.ts';
import type { EventLog, Retention } from '../../platform/pubsub/event-log.ts';
import { Coalescer } from '../../platform/realtime/coalescer.ts';
import type { Realtime } from '../../platform/realtime/realtime.ts';

// Channel names and how long each kind of history is kept for replay after a reconnect.
export const orgEventsChannel = (organizationId: string) => `org:${organizationId}:events`;
export const notificationsChannel = (userId: string) => `user:${userId}:notifications`;
export const jobsChannel = (organizationId: string) => `org:${organizationId}:jobs`;

export const ORG_EVENTS_RETENTION: Retention = { maxLen: 1000, maxAgeMs: 24 * 3600_000 };
export const NOTIFICATIONS_RETENTION: Retention = { maxLen: 500, maxAgeMs: 7 * 24 * 3600_000 };
export const JOBS_RETENTION: Retention = { maxLen: 500, maxAgeMs: 3600_000 };

/** Progress updates of one job go out at most this often; terminal states go at once. */
export const JOB_PROGRESS_INTERVAL_MS = 250;

export interface OrgEventInput {
  type: string;
  actorId?: string | null;
  subjectId?: string | null;
  data?: Record<string, unknown>;
}

/** An organization-wide event for its members (`org.events`), as a message for the log. Visible to every member. */
export function orgEventMessage(
  organizationId: string,
  e: OrgEventInput,
): { channel: string; data: OrgEvent; retention: Retention } {
  const event: OrgEvent = {
    type: e.type,
    actorId: e.actorId ?? null,
    subjectId: e.subjectId ?? null,
    data: e.data ?? {},
    at: new Date().toISOString(),
  };
  return { channel: orgEventsChannel(organizationId), data: event, retention: ORG_EVENTS_RETENTION };
}

/** Announces an organization-wide event to its members (`org.events`). Visible to every member: no secrets. */
export async function publishOrgEvent(
  log: EventLog,
  organizationId: string,
  e: OrgEventInput,
): Promise<string> {
  const m = orgEventMessage(organizationId, e);
  return log.publish(m.channel, m.data, m.retention);
}

export interface NotificationInput {
  type: string;
  title: string;
  body?: string | null;
  organizationId?: string | null;
  data?: Record<string, unknown>;
}

/** Sends a notification to one user's `user.notifications`, on every device and process. */
export async function notifyUser(log: EventLog, userId: string, n: NotificationInput): Promise<string> {
  const notification: Notification = {
    type: n.type,
    title: n.title,
    body: n.body ?? null,
    organizationId: n.organizationId ?? null,
    data: n.data ?? {},
    at: new Date().toISOString(),
  };
  return log.publish(notificationsChannel(userId), notification, NOTIFICATIONS_RETENTION);
}

export type JobProgressInput = Omit<JobProgress, 'at'>;

const TERMINAL = new Set<JobProgress['status']>(['completed', 'failed', 'cancelled']);
const coalescers = new WeakMap<Realtime, Coalescer<{ organizationId: string; progress: JobProgress }>>();

/**
 * Reports a job's progress on `jobs.progress`. A job calling this for every row sends at most one update per
 * JOB_PROGRESS_INTERVAL_MS (the newest); completion, failure and cancellation are sent at once and never merged.
 */
export async function reportJobProgress(
  realtime: Realtime,
  organizationId: string,
  input: JobProgressInput,
): Promise<void> {
  let coalescer = coalescers.get(realtime);
  if (!coalescer) {
    coalescer = new Coalescer(JOB_PROGRESS_INTERVAL_MS, (_key, v) =>
      realtime.log.publish(jobsChannel(v.organizationId), v.progress, JOBS_RETENTION),
    );
    coalescers.set(realtime, coalescer);
  }
  const value = { organizationId, progress: { ...input, at: new Date().toISOString() } };
  const key = `${organizationId}:${input.jobId}`;
  if (TERMINAL.has(input.status)) await coalescer.flush(key, value);
  else coalescer.push(key, value);
}
