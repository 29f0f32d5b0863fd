import { trace } from '@opentelemetry/api';
import { AlwaysOffSampler, ParentBasedSampler } from '@opentelemetry/sdk-trace-base';
import { beforeEach, describe, expect, it } from 'vitest';
import { currentTraceCarrier, currentTraceId, inSpan } from './propagation.ts';
import { useMemoryTracer } from './testing/memory-tracer.ts';

// New traces are never recorded here; a caller's sampled trace is (parent-based), so both paths are exercised.
const { exporter } = useMemoryTracer(new ParentBasedSampler({ root: new AlwaysOffSampler() }));
beforeEach(() => exporter.reset());

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const flagsOf = (traceparent: string | undefined) => traceparent?.split('-')[3];
const traceOf = (traceparent: string | undefined) => traceparent?.split('-')[1];

describe('trace context of unrecorded work', () => {
  it('keeps the ids of an unrecorded span for logs and jobs, with no active span for instrumentations', async () => {
    const seen = await inSpan('job a', 'consumer', undefined, async () => {
      // pg/ioredis/http instrumentations look for an active span (requireParent…): there must be none.
      const active = trace.getActiveSpan();
      const nested = await inSpan('step', 'internal', undefined, async () => ({
        id: currentTraceId(),
        carrier: currentTraceCarrier(),
      }));
      return { active, id: currentTraceId(), carrier: currentTraceCarrier(), nested };
    });
    expect(seen.active).toBeUndefined();
    expect(seen.id).toMatch(/^[0-9a-f]{32}$/);
    expect(traceOf(seen.carrier.traceparent)).toBe(seen.id);
    expect(flagsOf(seen.carrier.traceparent)).toBe('00');
    // A span started inside unrecorded work stays in its trace (not a new root of its own).
    expect(seen.nested.id).toBe(seen.id);
    expect(flagsOf(seen.nested.carrier.traceparent)).toBe('00');
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it("continues a caller's unsampled trace without recording it", async () => {
    const seen = await inSpan(
      'job b',
      'consumer',
      { traceparent: `00-${TRACE}-00f067aa0ba902b7-00` },
      async () => ({
        active: trace.getActiveSpan(),
        id: currentTraceId(),
        carrier: currentTraceCarrier(),
      }),
    );
    expect(seen.active).toBeUndefined();
    expect(seen.id).toBe(TRACE);
    expect(traceOf(seen.carrier.traceparent)).toBe(TRACE);
    expect(flagsOf(seen.carrier.traceparent)).toBe('00');
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it("records a caller's sampled trace, even when started inside unrecorded work", async () => {
    const sampled = `00-${TRACE}-00f067aa0ba902b7-01`;
    const seen = await inSpan('outer', 'internal', undefined, () =>
      inSpan('job c', 'consumer', { traceparent: sampled }, async () => {
        // Asked inside: a span records nothing once it has ended.
        const recording = trace.getActiveSpan()?.isRecording();
        const childRecording = await inSpan('step', 'internal', undefined, async () =>
          trace.getActiveSpan()?.isRecording(),
        );
        return { recording, childRecording, id: currentTraceId(), carrier: currentTraceCarrier() };
      }),
    );
    expect(seen.recording).toBe(true);
    expect(seen.childRecording).toBe(true);
    expect(seen.id).toBe(TRACE);
    expect(flagsOf(seen.carrier.traceparent)).toBe('01');
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['job c', 'step']);
    const job = spans.find((s) => s.name === 'job c')!;
    const step = spans.find((s) => s.name === 'step')!;
    expect(job.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(step.parentSpanContext?.spanId).toBe(job.spanContext().spanId);
  });

  it('records the failure of recorded work and rethrows it', async () => {
    const sampled = `00-${TRACE}-00f067aa0ba902b7-01`;
    await expect(
      inSpan('job d', 'consumer', { traceparent: sampled }, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.message).toBe('boom');
    expect(span?.events.map((e) => e.name)).toContain('exception');
  });
});
