import { load, measureKeel, prepareApiBench, startServerChild } from './api-harness.ts';
import { printFigures } from './lib.ts';

/** An authenticated tenant query through the whole stack (token auth, tenant, ability, metrics) vs bare Fastify. */
export async function run(): Promise<void> {
  const bench = await prepareApiBench();
  try {
    const bare = await startServerChild('bare');
    const bareResult = await load(`http://127.0.0.1:${bare.port}/json`, {});
    bare.child.kill();
    const keel = await measureKeel(bench, {});
    printFigures('api', [
      {
        name: 'tenant_query_rps',
        value: keel.rps,
        unit: 'req/s',
        baseline: bareResult.rps,
        goal: 'higher; bare Fastify is the ceiling',
      },
      { name: 'tenant_query_p50', value: keel.p50, unit: 'ms', baseline: bareResult.p50, goal: 'lower' },
      { name: 'tenant_query_p99', value: keel.p99, unit: 'ms', baseline: bareResult.p99, goal: 'lower' },
    ]);
  } finally {
    await bench.cleanup();
  }
}
