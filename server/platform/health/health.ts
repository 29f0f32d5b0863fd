// Readiness in the `application/health+json` draft format: checks keyed `component:measurement`, each with a
// status; pass/warn answer 200, fail answers 503.

export type HealthStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  /** Which instance of the component (the draft's `componentId`), e.g. a replica's host:port/database. */
  componentId?: string;
  componentType: 'datastore' | 'component' | 'system';
  observedValue?: number;
  observedUnit?: string;
  status: HealthStatus;
  time: string;
  output?: string;
}

export interface HealthReport {
  status: HealthStatus;
  version: string;
  serviceId: string;
  description: string;
  checks: Record<string, CheckResult[]>;
}

export interface Measurement {
  value: number;
  unit: string;
}

export interface HealthCheck {
  key: string;
  componentId?: string;
  componentType: CheckResult['componentType'];
  /** Resolves when healthy; a Measurement is reported as the observed value (else the response time is). */
  run(): Promise<unknown>;
  /** For measured checks: `warn` at or above the first, `fail` at or above the second. */
  thresholds?: { warn: number; fail: number };
  /** What a check that throws reports: `fail` (default) or `warn` for a dependency each node survives losing. */
  onFailure?: 'warn' | 'fail';
}

const isMeasurement = (v: unknown): v is Measurement =>
  typeof v === 'object' && v !== null && typeof (v as Measurement).value === 'number' && 'unit' in v;

const rank: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

export async function runHealthChecks(
  checks: HealthCheck[],
  opts: { version: string; timeoutMs?: number; slowMs?: number },
): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check): Promise<[string, CheckResult]> => {
      const started = performance.now();
      const time = new Date().toISOString();
      const instance = check.componentId ? { componentId: check.componentId } : {};
      try {
        const outcome = await withTimeout(check.run(), opts.timeoutMs ?? 2000);
        if (isMeasurement(outcome)) {
          const t = check.thresholds;
          const status: HealthStatus =
            t && outcome.value >= t.fail ? 'fail' : t && outcome.value >= t.warn ? 'warn' : 'pass';
          const { value: observedValue, unit: observedUnit } = outcome;
          return [
            check.key,
            { ...instance, componentType: check.componentType, observedValue, observedUnit, status, time },
          ];
        }
        const ms = Math.round((performance.now() - started) * 10) / 10;
        const status: HealthStatus = ms > (opts.slowMs ?? 500) ? 'warn' : 'pass';
        return [
          check.key,
          {
            ...instance,
            componentType: check.componentType,
            observedValue: ms,
            observedUnit: 'ms',
            status,
            time,
          },
        ];
      } catch (err) {
        const output = err instanceof Error ? err.message : String(err);
        const status = check.onFailure ?? 'fail';
        return [check.key, { ...instance, componentType: check.componentType, status, time, output }];
      }
    }),
  );
  const status = results.reduce<HealthStatus>(
    (worst, [, r]) => (rank[r.status] > rank[worst] ? r.status : worst),
    'pass',
  );
  return {
    status,
    version: opts.version,
    serviceId: 'keel',
    description: 'Keel API readiness',
    checks: Object.fromEntries(results.map(([k, r]) => [k, [r]])),
  };
}

/** What an anonymous caller may see: the overall status and each check's status, no values or error text. */
export function redactReport(report: HealthReport): HealthReport {
  return {
    ...report,
    checks: Object.fromEntries(
      Object.entries(report.checks).map(([key, results]) => [
        key,
        results.map((r) => ({ componentType: r.componentType, status: r.status, time: r.time })),
      ]),
    ),
  };
}
