import { z } from 'zod';
import { uuid } from './common.ts';
import type { OrganizationTier } from './tenancy.ts';

/**
 * The jobs a tenant may schedule (server/modules/jobs/definitions.ts lists their definitions as `schedulableJobs`;
 * a unit test keeps the two lists equal). Each validates its payload with its own schema when a schedule is made.
 */
export const SCHEDULABLE_JOBS = ['exports.scheduled'] as const;
export type SchedulableJob = (typeof SCHEDULABLE_JOBS)[number];

/** Schedules an organization may hold, by plan. */
export const MAX_SCHEDULES: Record<OrganizationTier, number> = { free: 5, professional: 50, enterprise: 200 };
/** The shortest time between two runs of one schedule. */
export const MIN_SCHEDULE_INTERVAL_MINUTES = 5;

export const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const timeZone = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(64, 'must be at most 64 characters')
  .refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin');

export const createScheduleInput = z
  .object({
    job: z.enum(SCHEDULABLE_JOBS),
    /**
     * Five-field cron (`0 9 * * 1`) or a phrase: `hourly at :15`, `daily at 09:00`, `weekdays at 09:00`,
     * `weekly at 09:00 on Monday`, `monthly at 09:00 on day 1`.
     */
    schedule: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
    /** The organization's time zone when absent. */
    timeZone: timeZone.optional(),
    payload: z.record(z.string(), z.unknown()).default({}),
    paused: z.boolean().default(false),
  })
  .strict();
export type CreateScheduleInput = z.input<typeof createScheduleInput>;

export const scheduleIdInput = z.object({ id: uuid }).strict();
export const setSchedulePausedInput = z.object({ id: uuid, paused: z.boolean() }).strict();

export const scheduleOutput = z.object({
  id: uuid,
  job: z.string(),
  schedule: z.string(),
  cron: z.string(),
  timeZone: z.string(),
  payload: z.record(z.string(), z.unknown()),
  paused: z.boolean(),
  nextRunAt: z.date().nullable(),
  lastRunAt: z.date().nullable(),
  lastJobId: z.string().nullable(),
  lastError: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: z.date(),
});
export type ScheduleOutput = z.infer<typeof scheduleOutput>;

export const listSchedulesOutput = z.object({ items: z.array(scheduleOutput), limit: z.number() });

/** The ops console's read of one organization's schedules. */
export const opsTenantSchedulesInput = z
  .object({
    id: uuid,
    limit: z.number().int().min(1).max(100).default(25),
    offset: z.number().int().min(0).max(10_000).default(0),
  })
  .strict();
export const opsTenantSchedulesOutput = z.object({ items: z.array(scheduleOutput), total: z.number() });
