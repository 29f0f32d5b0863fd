import { describe, expect, it } from 'vitest';
import { SCHEDULABLE_JOBS } from '../../../shared/schemas/schedules.ts';
import { jobDefinitions, schedulableJobs } from '../jobs/definitions.ts';
import { checkInterval, cronOf, nextRunAfter, ScheduleSpecError } from './spec.ts';

describe('schedule specs', () => {
  it('turn phrases into the cron they mean and keep five-field crons', () => {
    expect(cronOf('weekly at 09:00 on Monday')).toBe('0 9 * * 1');
    expect(cronOf('Weekly on sunday at 7:05')).toBe('5 7 * * 0');
    expect(cronOf('daily at 23:30')).toBe('30 23 * * *');
    expect(cronOf('weekdays at 08:15')).toBe('15 8 * * 1-5');
    expect(cronOf('hourly at :45')).toBe('45 * * * *');
    expect(cronOf('monthly on day 31 at 00:00')).toBe('0 0 31 * *');
    expect(cronOf('  0  9 * *  MON ')).toBe('0 9 * * mon');
  });

  it('refuse seconds, malformed crons and phrases', () => {
    for (const bad of [
      '* * * * * *',
      '61 * * * *',
      'weekly at 25:00 on Monday',
      'every full moon',
      '0 9 * *',
    ]) {
      expect(() => cronOf(bad), bad).toThrow(ScheduleSpecError);
    }
  });

  it('refuse runs closer than five minutes, wherever in the day the gap is', () => {
    expect(() => checkInterval('* * * * *', 'UTC')).toThrow(/every 5 minutes/);
    expect(() => checkInterval('0,3 9 * * *', 'UTC')).toThrow(/every 5 minutes/);
    expect(() => checkInterval('0,59 0,23 * * *', 'UTC')).toThrow(/every 5 minutes/);
    expect(() => checkInterval('*/5 * * * *', 'UTC')).not.toThrow();
    expect(() => checkInterval('0 9 * * 1', 'Europe/Berlin')).not.toThrow();
    expect(() => checkInterval('0 0 30 2 *', 'UTC')).toThrow(/never runs/);
  });

  it('compute the next run in the time zone across daylight-saving changes', () => {
    // Europe/Berlin moves to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    const weekly = '0 9 * * 1';
    expect(nextRunAfter(weekly, 'Europe/Berlin', new Date('2026-03-20T00:00:00Z'))?.toISOString()).toBe(
      '2026-03-23T08:00:00.000Z',
    );
    expect(nextRunAfter(weekly, 'Europe/Berlin', new Date('2026-03-23T08:00:00Z'))?.toISOString()).toBe(
      '2026-03-30T07:00:00.000Z',
    );
    // New York falls back on 2026-11-01: 09:00 local is 13:00 UTC before, 14:00 UTC after.
    expect(
      nextRunAfter('0 9 * * *', 'America/New_York', new Date('2026-10-31T13:00:00Z'))?.toISOString(),
    ).toBe('2026-11-01T14:00:00.000Z');
    // 02:30 does not exist on the spring-forward night: that day's run is at the first valid time after it.
    expect(nextRunAfter('30 2 * * *', 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    // 02:30 happens twice on the fall-back night: it runs once.
    const fallBack = nextRunAfter('30 2 * * *', 'Europe/Berlin', new Date('2026-10-24T12:00:00Z'))!;
    expect(fallBack.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(nextRunAfter('30 2 * * *', 'Europe/Berlin', fallBack)?.toISOString()).toBe(
      '2026-10-26T01:30:00.000Z',
    );
  });

  it('the next run is strictly after the given time', () => {
    const at = new Date('2026-06-01T09:00:00Z');
    expect(nextRunAfter('0 9 * * *', 'UTC', at)?.toISOString()).toBe('2026-06-02T09:00:00.000Z');
  });

  it('schedulable jobs are registered jobs, and the API names exactly them', () => {
    for (const def of schedulableJobs) expect(jobDefinitions).toContain(def);
    expect(schedulableJobs.map((d) => d.name).sort()).toEqual([...SCHEDULABLE_JOBS].sort());
  });
});
