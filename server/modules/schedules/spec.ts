import { Cron } from 'croner';
import { MIN_SCHEDULE_INTERVAL_MINUTES } from '../../../shared/schemas/schedules.ts';

const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const TIME = '([01]?\\d|2[0-3]):([0-5]\\d)';
const DAY = `(${DAYS.join('|')})`;

/** Phrases a person can write instead of cron, each with the cron it means (minute, hour, day, month, weekday). */
const PHRASES: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^(?:hourly|every hour) at :([0-5]\d)$/, (m) => `${Number(m[1])} * * * *`],
  [new RegExp(`^(?:daily|every day) at ${TIME}$`), (m) => `${Number(m[2])} ${Number(m[1])} * * *`],
  [new RegExp(`^weekdays at ${TIME}$`), (m) => `${Number(m[2])} ${Number(m[1])} * * 1-5`],
  [
    new RegExp(`^weekly at ${TIME} on ${DAY}$`),
    (m) => `${Number(m[2])} ${Number(m[1])} * * ${DAYS.indexOf(m[3]!)}`,
  ],
  [
    new RegExp(`^weekly on ${DAY} at ${TIME}$`),
    (m) => `${Number(m[3])} ${Number(m[2])} * * ${DAYS.indexOf(m[1]!)}`,
  ],
  [
    new RegExp(`^monthly at ${TIME} on day ([1-9]|[12]\\d|3[01])$`),
    (m) => `${Number(m[2])} ${Number(m[1])} ${Number(m[3])} * *`,
  ],
  [
    new RegExp(`^monthly on day ([1-9]|[12]\\d|3[01]) at ${TIME}$`),
    (m) => `${Number(m[3])} ${Number(m[2])} ${Number(m[1])} * *`,
  ],
];

export class ScheduleSpecError extends Error {}

/** Runs looked at to find the shortest gap: a day of runs at the shortest allowed interval. */
const GAP_SAMPLE = Math.ceil((24 * 60) / MIN_SCHEDULE_INTERVAL_MINUTES) + 1;

/**
 * The five-field cron a schedule means. Seconds (six fields) are refused: schedules are fired by a leader tick each
 * minute. Throws ScheduleSpecError with a message for the client.
 */
export function cronOf(spec: string): string {
  const text = spec.trim().toLowerCase().replace(/\s+/g, ' ');
  for (const [re, build] of PHRASES) {
    const m = text.match(re);
    if (m) return build(m);
  }
  const fields = text.split(' ');
  if (fields.length !== 5) {
    throw new ScheduleSpecError(
      'must be five cron fields (minute hour day month weekday) or a phrase such as "weekly at 09:00 on Monday"',
    );
  }
  try {
    new Cron(text, { paused: true }).stop();
  } catch (err) {
    throw new ScheduleSpecError(`is not a valid cron: ${err instanceof Error ? err.message : String(err)}`);
  }
  return text;
}

const cronIn = (cron: string, timeZone: string) => new Cron(cron, { paused: true, timezone: timeZone });

/**
 * Checks that a cron ever runs and never runs twice within the minimum interval. Gaps repeat at least daily, so a
 * day's worth of runs at the shortest allowed interval shows the shortest one.
 */
export function checkInterval(cron: string, timeZone: string, from = new Date()): void {
  const runs = cronIn(cron, timeZone).nextRuns(GAP_SAMPLE, from);
  if (!runs.length) throw new ScheduleSpecError('never runs');
  for (let i = 1; i < runs.length; i++) {
    const gapMs = runs[i]!.getTime() - runs[i - 1]!.getTime();
    if (gapMs < MIN_SCHEDULE_INTERVAL_MINUTES * 60_000) {
      throw new ScheduleSpecError(`runs more often than every ${MIN_SCHEDULE_INTERVAL_MINUTES} minutes`);
    }
  }
}

/**
 * The first run strictly after `after`, in the schedule's time zone (croner follows the zone's daylight-saving
 * rules: a time skipped by a spring-forward runs at the first valid time after it, a repeated one runs once).
 */
export function nextRunAfter(cron: string, timeZone: string, after: Date): Date | null {
  return cronIn(cron, timeZone).nextRun(after);
}
