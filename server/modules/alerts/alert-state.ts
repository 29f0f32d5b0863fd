import type { Severity } from './alert-rules.ts';

export type AlertState = 'inactive' | 'pending' | 'firing';

export interface RuleState {
  state: AlertState;
  severity: Severity | null;
  /** When the current breach started (pending/firing). */
  since: number | null;
  /** When the value last went back under the warn threshold while firing. */
  clearedAt: number | null;
  value: number | null;
}

export const INITIAL_STATE: RuleState = {
  state: 'inactive',
  severity: null,
  since: null,
  clearedAt: null,
  value: null,
};

export type Transition =
  | { kind: 'none' }
  | { kind: 'pending' }
  | { kind: 'fire'; severity: Severity }
  | { kind: 'escalate'; severity: Severity }
  | { kind: 'resolve' };

export interface Thresholds {
  warn: number;
  critical: number;
  forSeconds: number;
  keepFiringForSeconds: number;
}

/**
 * The alert state machine, pure so it can be tested alone: inactive → pending (breach seen) → firing (breach held
 * `forSeconds`) → resolved (clear held `keepFiringForSeconds`). Only `fire`, `escalate` (warning → critical) and
 * `resolve` notify; a breach that returns while still firing changes nothing, so flapping sends nothing new.
 */
export function step(
  prev: RuleState,
  value: number | null,
  now: number,
  t: Thresholds,
): [RuleState, Transition] {
  const severity: Severity | null =
    value === null ? null : value >= t.critical ? 'critical' : value >= t.warn ? 'warning' : null;
  if (prev.state === 'inactive') {
    if (!severity) return [{ ...INITIAL_STATE, value }, { kind: 'none' }];
    const pending: RuleState = { state: 'pending', severity, since: now, clearedAt: null, value };
    if (t.forSeconds <= 0)
      return [
        { ...pending, state: 'firing' },
        { kind: 'fire', severity },
      ];
    return [pending, { kind: 'pending' }];
  }
  if (prev.state === 'pending') {
    if (!severity) return [{ ...INITIAL_STATE, value }, { kind: 'none' }];
    const since = prev.since ?? now;
    if (now - since >= t.forSeconds * 1000) {
      return [
        { state: 'firing', severity, since, clearedAt: null, value },
        { kind: 'fire', severity },
      ];
    }
    return [{ ...prev, severity, value }, { kind: 'none' }];
  }
  // firing
  if (severity) {
    const escalated = severity === 'critical' && prev.severity === 'warning';
    return [
      { ...prev, severity: escalated ? 'critical' : prev.severity, clearedAt: null, value },
      escalated ? { kind: 'escalate', severity } : { kind: 'none' },
    ];
  }
  const clearedAt = prev.clearedAt ?? now;
  if (now - clearedAt >= t.keepFiringForSeconds * 1000) {
    return [{ ...INITIAL_STATE, value }, { kind: 'resolve' }];
  }
  return [{ ...prev, clearedAt, value }, { kind: 'none' }];
}
