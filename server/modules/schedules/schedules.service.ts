import { AppError } from '../../../shared/errors.ts';
import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import { isTimeZone, MAX_SCHEDULES, type ScheduleOutput } from '../../../shared/schemas/schedules.ts';
import { pageAcrossTenants } from '../../platform/db/across-tenants.ts';
import type { Em } from '../../platform/db/context.ts';
import { schedulableJobs } from '../jobs/definitions.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { tenantSettings } from '../tenancy/tenant-settings.ts';
import { Schedule, type ISchedule } from './schedule.entity.ts';
import { checkInterval, cronOf, nextRunAfter, ScheduleSpecError } from './spec.ts';

/** A schedule's payload is stored and queued on every run: small, like a job's. */
const MAX_PAYLOAD_BYTES = 8_192;

export interface NewSchedule {
  job: string;
  schedule: string;
  timeZone?: string | undefined;
  payload: Record<string, unknown>;
  paused: boolean;
}

const invalid = (field: string, message: string) =>
  new AppError('VALIDATION_FAILED', `Invalid ${field}`, { fieldErrors: { [field]: [message] } });

export function schedulableJob(name: string) {
  return schedulableJobs.find((d) => d.name === name);
}

/** The payload as the job's own schema reads it: field errors under `payload.`. */
function checkPayload(job: string, payload: Record<string, unknown>): void {
  const def = schedulableJob(job);
  if (!def) throw invalid('job', 'is not a schedulable job');
  if (Buffer.byteLength(JSON.stringify(payload)) > MAX_PAYLOAD_BYTES) {
    throw invalid('payload', `must be at most ${MAX_PAYLOAD_BYTES} bytes of JSON`);
  }
  const parsed = def.payload.safeParse(payload);
  if (parsed.success) return;
  const fieldErrors: Record<string, string[]> = {};
  for (const issue of parsed.error.issues) {
    (fieldErrors[['payload', ...issue.path.map(String)].join('.')] ??= []).push(issue.message);
  }
  throw new AppError('VALIDATION_FAILED', `Invalid payload for job "${job}"`, { fieldErrors });
}

function parseSpec(spec: string, timeZone: string): string {
  try {
    const cron = cronOf(spec);
    checkInterval(cron, timeZone);
    return cron;
  } catch (err) {
    if (err instanceof ScheduleSpecError) throw invalid('schedule', err.message);
    throw err;
  }
}

export function toScheduleOutput(row: ISchedule): ScheduleOutput {
  return {
    id: row.id,
    job: row.job,
    schedule: row.spec,
    cron: row.cron,
    timeZone: row.timeZone,
    payload: row.payload,
    paused: row.paused,
    nextRunAt: row.nextRunAt ?? null,
    lastRunAt: row.lastRunAt ?? null,
    lastJobId: row.lastJobId ?? null,
    lastError: row.lastError ?? null,
    createdBy: row.createdBy?.id ?? null,
    createdAt: row.createdAt,
  };
}

/**
 * Creates a schedule for the organization `em` is scoped to. The job must be schedulable and its payload valid by
 * the job's schema, the spec a cron or phrase running at most every few minutes, the time zone an IANA zone (the
 * organization's by default). Creations of one organization are serialized by an advisory lock, so two racing
 * requests cannot both pass the plan's limit.
 */
export async function createSchedule(
  em: Em,
  input: {
    organization: { id: string; tier: OrganizationTier };
    userId: string | null;
    schedule: NewSchedule;
  },
  now = new Date(),
): Promise<ISchedule> {
  const { schedule } = input;
  checkPayload(schedule.job, schedule.payload);
  const timeZone = schedule.timeZone ?? (await organizationTimeZone(em, input.organization.id));
  if (!isTimeZone(timeZone)) throw invalid('timeZone', 'must be an IANA time zone such as Europe/Berlin');
  const cron = parseSpec(schedule.schedule, timeZone);
  const limit = MAX_SCHEDULES[input.organization.tier];
  return em.transactional(async (tx) => {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`schedules:${input.organization.id}`]);
    if ((await tx.count(Schedule, {})) >= limit) {
      throw new AppError(
        'CONFLICT',
        `Your plan allows ${limit} schedules; remove one before adding another`,
        { limit },
      );
    }
    const row = tx.create(Schedule, {
      organization: input.organization.id,
      createdBy: input.userId,
      job: schedule.job,
      spec: schedule.schedule,
      cron,
      timeZone,
      payload: schedule.payload,
      paused: schedule.paused,
      nextRunAt: schedule.paused ? null : nextRunAfter(cron, timeZone, now),
    });
    await tx.flush();
    return row;
  });
}

async function organizationTimeZone(em: Em, organizationId: string): Promise<string> {
  const org = await em.findOneOrFail(Organization, { id: organizationId });
  return tenantSettings(org).timezone;
}

export async function listSchedules(em: Em): Promise<ISchedule[]> {
  return em.find(Schedule, {}, { orderBy: { createdAt: 'asc', id: 'asc' }, refresh: true });
}

/** The ops console: one organization's schedules, newest first (staff only; the caller logs the read). */
export async function listSchedulesForOps(
  rootEm: Em,
  organizationId: string,
  opts: { limit: number; offset: number },
): Promise<{ items: ScheduleOutput[]; total: number }> {
  const page = await pageAcrossTenants(rootEm, Schedule, { organizationId, ...opts });
  return { items: page.items.map(toScheduleOutput), total: page.total };
}

/** Another organization's schedule is NOT_FOUND, like one that does not exist (the tenant filter hides it). */
export async function getSchedule(em: Em, id: string): Promise<ISchedule> {
  const row = await em.findOne(Schedule, { id }, { refresh: true });
  if (!row) throw new AppError('NOT_FOUND', 'Schedule not found');
  return row;
}

/** Pausing clears the next run; resuming sets the next one from now (runs missed while paused are not made up). */
export async function setSchedulePaused(em: Em, id: string, paused: boolean, now = new Date()) {
  const row = await getSchedule(em, id);
  if (row.paused !== paused) {
    row.paused = paused;
    row.nextRunAt = paused ? null : nextRunAfter(row.cron, row.timeZone, now);
    await em.flush();
  }
  return row;
}

export async function removeSchedule(em: Em, id: string): Promise<void> {
  const row = await getSchedule(em, id);
  em.remove(row);
  await em.flush();
}
