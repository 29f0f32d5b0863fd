import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './definition.ts';
import { newEnvelope } from './envelope.ts';
import { decide, PermanentFailure, ReleaseJob } from './failure.ts';

// The one retry-or-fail decision (failure.ts), as the runner applies it after an attempt that did not succeed.

const job = (
  opts: { tries?: number; backoff?: number[]; maxExceptions?: number; retryUntilMs?: number } = {},
) => defineJob({ name: 'decide.test', payload: z.object({}), handle: () => undefined, ...opts });

/** An envelope after `attempts` attempts, `exceptions` of which threw, first dispatched at `at`. */
function env(attempts: number, exceptions = 0, at = 1_000) {
  return {
    ...newEnvelope({ name: 'decide.test', payload: {}, org: null, trace: '00-x-y-01', delayUntil: null }, at),
    attempts,
    exceptions,
  };
}

describe('decide', () => {
  it('follows the backoff array and fails at tries, counting the exception', () => {
    const def = job({ tries: 3, backoff: [100, 500] });
    const first = env(1);
    expect(decide(def, first, new Error('boom'), false, 2_000)).toEqual({
      kind: 'retry',
      delayMs: 100,
      released: false,
    });
    expect(first.exceptions).toBe(1);
    expect(decide(def, env(2, 1), new Error('boom'), false, 2_000)).toMatchObject({
      kind: 'retry',
      delayMs: 500,
    });
    const last = decide(def, env(3, 2), new Error('boom'), false, 2_000);
    expect(last).toEqual({ kind: 'fail', error: new Error('boom') });
  });

  it('a release is retried after its own delay without counting an exception, and fails with a clear message at tries', () => {
    const def = job({ tries: 2 });
    const e = env(1);
    expect(decide(def, e, new ReleaseJob(700), false, 2_000)).toEqual({
      kind: 'retry',
      delayMs: 700,
      released: true,
    });
    expect(e.exceptions).toBe(0);
    const out = decide(def, env(2), new ReleaseJob(700), false, 2_000);
    expect(out.kind === 'fail' && out.error.message).toBe(
      'decide.test was attempted 2 times (the last attempt was released)',
    );
  });

  it('maxExceptions, retryUntilMs, a permanent failure and an unknown job end it at once', () => {
    expect(decide(job({ tries: 10, maxExceptions: 2 }), env(2, 1), new Error('x'), false).kind).toBe('fail');
    expect(
      decide(
        job({ tries: 0, retryUntilMs: 5_000, backoff: [3_000] }),
        env(1, 0, 1_000),
        new Error('x'),
        false,
        4_000,
      ).kind,
    ).toBe('fail');
    expect(decide(job(), env(1), new PermanentFailure('never'), false).kind).toBe('fail');
    expect(decide(undefined, env(1), new Error('x'), false).kind).toBe('fail');
  });

  it('a shutdown returns the job whatever the error, counting nothing', () => {
    const e = env(3, 2);
    expect(decide(job({ tries: 3 }), e, new Error('aborted'), true)).toEqual({ kind: 'return' });
    expect(e.exceptions).toBe(2);
  });
});
