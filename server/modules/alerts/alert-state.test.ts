import { describe, expect, it } from 'vitest';
import { INITIAL_STATE, step, type RuleState, type Transition } from './alert-state.ts';

const t = { warn: 2, critical: 5, forSeconds: 120, keepFiringForSeconds: 300 };
const min = 60_000;

function run(values: (number | null)[]): Transition['kind'][] {
  let s: RuleState = INITIAL_STATE;
  return values.map((v, i) => {
    const [next, tr] = step(s, v, i * min, t);
    s = next;
    return tr.kind;
  });
}

describe('alert state machine', () => {
  it('goes pending, fires once after the for-duration, and stays quiet while the breach holds', () => {
    expect(run([0, 3, 3, 3, 3, 3])).toEqual(['none', 'pending', 'none', 'fire', 'none', 'none']);
  });

  it('a breach shorter than the for-duration never fires', () => {
    expect(run([3, 3, 0, 3, 0])).toEqual(['pending', 'none', 'none', 'pending', 'none']);
  });

  it('resolves once after the clear held keep-firing time; flapping inside it sends nothing', () => {
    const kinds = run([3, 3, 3, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
    expect(kinds.filter((k) => k === 'fire')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'resolve')).toHaveLength(1);
    expect(kinds.indexOf('resolve')).toBe(10);
  });

  it('escalates from warning to critical once', () => {
    expect(run([3, 3, 3, 6, 6, 3])).toEqual(['pending', 'none', 'fire', 'escalate', 'none', 'none']);
  });

  it('treats a missing value as no breach', () => {
    expect(run([null, null])).toEqual(['none', 'none']);
  });
});
