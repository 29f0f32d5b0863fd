import { describe, expect, it } from 'vitest';
import { evaluateAllFlags, evaluateFlag, rolloutBucket, type CompiledFlag } from './flags.evaluate.ts';

const flag = (over: Partial<CompiledFlag> = {}): CompiledFlag => ({
  key: 'f',
  kind: 'boolean',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  onVariant: 'on',
  enabled: false,
  rolloutBasisPoints: 0,
  killed: false,
  ...over,
});
const ids = Array.from({ length: 10_000 }, (_, i) => `org-${i}`);

describe('evaluateFlag', () => {
  it('buckets spread evenly: each tenth of the range holds about a tenth of the organizations', () => {
    const counts = new Array<number>(10).fill(0);
    for (const id of ids) counts[Math.floor(rolloutBucket('spread', id) / 1000)]!++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('widening a rollout only adds organizations', () => {
    let previous = new Set<string>();
    for (const pct of [1, 5, 25, 50, 75, 100]) {
      const f = flag({ rolloutBasisPoints: pct * 100 });
      const now = new Set(ids.filter((id) => evaluateFlag(f, id, undefined).reason === 'ROLLOUT'));
      for (const id of previous) expect(now.has(id)).toBe(true);
      previous = now;
    }
    expect(previous.size).toBe(ids.length);
  });

  it('applies kill → override → rollout → global → default', () => {
    const f = flag({ rolloutBasisPoints: 10_000, enabled: true });
    expect(evaluateFlag(f, 'o', { f: 'off' })).toEqual({ value: false, variant: 'off', reason: 'OVERRIDE' });
    expect(evaluateFlag({ ...f, killed: true }, 'o', { f: 'on' })).toMatchObject({
      reason: 'KILLED',
      value: false,
    });
    expect(evaluateFlag(f, 'o', undefined)).toMatchObject({ reason: 'ROLLOUT', value: true });
    expect(evaluateFlag({ ...f, rolloutBasisPoints: 0 }, 'o', undefined)).toMatchObject({ reason: 'GLOBAL' });
    expect(evaluateFlag(flag(), 'o', undefined)).toMatchObject({ reason: 'DEFAULT', value: false });
    // Without an organization there is no bucket: rollout does not apply.
    expect(evaluateFlag({ ...f, enabled: false }, undefined, undefined)).toMatchObject({ reason: 'DEFAULT' });
  });

  it('ignores an override naming a variant that no longer exists', () => {
    expect(evaluateFlag(flag(), 'o', { f: 'removed' })).toMatchObject({ reason: 'DEFAULT' });
  });

  it('evaluates every flag of a set with the organization’s overrides only', () => {
    const set = { flags: [flag({ key: 'a' }), flag({ key: 'b' })], overrides: { x: { a: 'on' } } };
    expect(evaluateAllFlags(set, 'x')).toMatchObject({ a: { reason: 'OVERRIDE' }, b: { reason: 'DEFAULT' } });
    expect(evaluateAllFlags(set, 'y')).toMatchObject({ a: { reason: 'DEFAULT' }, b: { reason: 'DEFAULT' } });
  });
});
