import { describe, expect, it } from 'vitest';
import { redactReport, runHealthChecks, type HealthCheck } from './health.ts';

const check = (
  key: string,
  run: () => Promise<unknown>,
  thresholds?: HealthCheck['thresholds'],
): HealthCheck => ({
  key,
  componentType: 'component',
  run,
  ...(thresholds ? { thresholds } : {}),
});

describe('runHealthChecks', () => {
  it('passes when every check resolves, reporting response times', async () => {
    const r = await runHealthChecks([check('a:responseTime', async () => 'ok')], { version: '1' });
    expect(r.status).toBe('pass');
    expect(r.checks['a:responseTime']?.[0]).toMatchObject({ status: 'pass', observedUnit: 'ms' });
  });

  it('fails with the failing check named and its error as output', async () => {
    const r = await runHealthChecks(
      [
        check('a:responseTime', async () => 'ok'),
        check('b:responseTime', () => Promise.reject(new Error('down'))),
      ],
      { version: '1' },
    );
    expect(r.status).toBe('fail');
    expect(r.checks['b:responseTime']?.[0]).toMatchObject({ status: 'fail', output: 'down' });
  });

  it('fails a check that hangs past the timeout', async () => {
    const r = await runHealthChecks([check('slow:responseTime', () => new Promise(() => {}))], {
      version: '1',
      timeoutMs: 50,
    });
    expect(r.checks['slow:responseTime']?.[0]?.output).toMatch(/timed out/);
  });

  it('classifies measured checks by their thresholds; warn keeps the service up', async () => {
    const m = (value: number) =>
      check('disk:utilization', async () => ({ value, unit: 'percent' }), { warn: 80, fail: 90 });
    expect((await runHealthChecks([m(50)], { version: '1' })).status).toBe('pass');
    expect((await runHealthChecks([m(85)], { version: '1' })).status).toBe('warn');
    expect((await runHealthChecks([m(95)], { version: '1' })).status).toBe('fail');
  });

  it('redaction keeps statuses and drops values and error text', async () => {
    const r = redactReport(
      await runHealthChecks([check('db:responseTime', () => Promise.reject(new Error('password=hunter2')))], {
        version: '1',
      }),
    );
    expect(r.checks['db:responseTime']?.[0]).toEqual({
      componentType: 'component',
      status: 'fail',
      time: expect.any(String),
    });
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });
});
