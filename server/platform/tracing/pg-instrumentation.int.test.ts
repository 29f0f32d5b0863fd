import { context, trace } from '@opentelemetry/api';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { AlwaysOnSampler } from '@opentelemetry/sdk-trace-base';
import { createRequire } from 'node:module';
import type PgModule from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { pgInstrumentation } from './sdk.ts';
import { useMemoryTracer } from './testing/memory-tracer.ts';

// pg and pg-pool as the instrumentation sees them in a server (CommonJS exports), patched by hand here because this
// process loaded them before any instrumentation existed.
const require = createRequire(import.meta.url);
const pg = require('pg') as typeof PgModule;
const pgPool = require('pg-pool') as unknown;

const { exporter, provider } = useMemoryTracer(new AlwaysOnSampler());

/** Patches pg with the instrumentation, runs a query inside a recorded span, and reports what the pool got. */
async function tracedQuery(instrumentation: PgInstrumentation) {
  instrumentation.setTracerProvider(provider);
  const definitions = instrumentation.getModuleDefinitions();
  const patched = definitions.map((d) => {
    const mod = d.name === 'pg' ? pg : pgPool;
    d.patch!(mod as never);
    return () => d.unpatch!(mod as never);
  });
  exporter.reset();
  const pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 1 });
  try {
    const listenersBefore = pool.listenerCount('acquire') + pool.listenerCount('release');
    const tracer = provider.getTracer('test');
    const root = tracer.startSpan('request');
    await context.with(trace.setSpan(context.active(), root), () => pool.query('select 1 as one'));
    root.end();
    return {
      listenersAdded: pool.listenerCount('acquire') + pool.listenerCount('release') - listenersBefore,
      querySpans: exporter.getFinishedSpans().filter((s) => s.name.startsWith('pg.query')),
    };
  } finally {
    await pool.end();
    for (const unpatch of patched) unpatch();
    instrumentation.disable();
  }
}

describe('pg instrumentation', () => {
  it('the stock instrumentation adds pool listeners for its connection metrics once a traced request checks out', async () => {
    const stock = await tracedQuery(
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true, enabled: false }),
    );
    expect(stock.listenersAdded).toBeGreaterThan(0);
    expect(stock.querySpans).toHaveLength(1);
  });

  it("Keel's adds none and still records the query span in the request's trace", async () => {
    const keel = pgInstrumentation();
    keel.disable();
    const { listenersAdded, querySpans } = await tracedQuery(keel);
    expect(listenersAdded).toBe(0);
    expect(querySpans).toHaveLength(1);
    expect(querySpans[0]!.parentSpanContext?.spanId).toBeDefined();
    expect(querySpans[0]!.attributes['db.system.name']).toBe('postgresql');
  });
});
