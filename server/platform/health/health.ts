// Readiness in the `application/health+json` draft format: checks keyed `component:measurement`, each with a
// status; pass/warn answer 200, fail answers 503.

export type HealthStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
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

export interface HealthCheck {
  key: string;
  componentType: CheckResult['componentType'];
  run(): Promise<unknown>;
}

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
      try {
        await withTimeout(check.run(), opts.timeoutMs ?? 2000);
        const ms = Math.round((performance.now() - started) * 10) / 10;
        const status: HealthStatus = ms > (opts.slowMs ?? 500) ? 'warn' : 'pass';
        return [
          check.key,
          { componentType: check.componentType, observedValue: ms, observedUnit: 'ms', status, time },
        ];
      } catch (err) {
        const output = err instanceof Error ? err.message : String(err);
        return [check.key, { componentType: check.componentType, status: 'fail', time, output }];
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
