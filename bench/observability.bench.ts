import { measureKeel, prepareApiBench } from './api-harness.ts';
import { printFigures } from './lib.ts';

/**
 * The tenant query with request/query metrics on, and with metrics plus OpenTelemetry tracing on (at the production
 * default of 10 % of new traces recorded, and with every trace recorded), each against both off, in the same run.
 */
export async function run(): Promise<void> {
  const bench = await prepareApiBench();
  try {
    const off = await measureKeel(bench, { METRICS_ENABLED: 'false' });
    const metrics = await measureKeel(bench, { METRICS_ENABLED: 'true' });
    const traced = { METRICS_ENABLED: 'true', OTEL_ENABLED: 'true' };
    const sampled = await measureKeel(bench, traced, { instrument: true });
    const everything = await measureKeel(
      bench,
      { ...traced, OTEL_TRACES_SAMPLE_RATIO: '1' },
      { instrument: true },
    );
    printFigures('observability', [
      { name: 'metrics_rps', value: metrics.rps, unit: 'req/s', baseline: off.rps, goal: 'ratio >= 0.90' },
      {
        name: 'metrics_tracing_rps',
        value: sampled.rps,
        unit: 'req/s',
        baseline: off.rps,
        goal: 'ratio >= 0.90',
      },
      {
        name: 'metrics_tracing_all_rps',
        value: everything.rps,
        unit: 'req/s',
        baseline: off.rps,
        goal: 'ratio >= 0.90',
      },
      { name: 'metrics_tracing_p99', value: sampled.p99, unit: 'ms', baseline: off.p99, goal: 'lower' },
    ]);
  } finally {
    await bench.cleanup();
  }
}
