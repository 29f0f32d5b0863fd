import type { FlagEvaluation, FlagKind, JsonValue } from '../../../shared/schemas/flags.ts';

/** What evaluation needs of a flag: a plain object, so the whole set can be cached and shared between processes. */
export interface CompiledFlag {
  key: string;
  kind: FlagKind;
  variants: Record<string, JsonValue>;
  defaultVariant: string;
  onVariant: string;
  enabled: boolean;
  rolloutBasisPoints: number;
  killed: boolean;
}

/** Every flag and every override: what one request needs to evaluate all flags without another round trip. */
export interface CompiledFlagSet {
  flags: CompiledFlag[];
  /** organization id → flag key → variant. */
  overrides: Record<string, Record<string, string>>;
}

/**
 * The organization's bucket for a flag, 0–9999: FNV-1a over `flagKey:organizationId`, finished with murmur3's
 * fmix32 so that near-identical ids (sequential UUIDs) spread evenly. Hashing the flag key in means each flag
 * picks a different slice of organizations; comparing `bucket < percentage` means widening a rollout only ever
 * adds organizations.
 */
export function rolloutBucket(flagKey: string, organizationId: string): number {
  // Same as hashing `${flagKey}:${organizationId}`, without building the string (a rope that charCodeAt
  // would flatten on every call).
  let h = fnv(0x811c9dc5, flagKey);
  h = Math.imul(h ^ 58, 0x01000193);
  h = fnv(h, organizationId);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % 10_000;
}

function fnv(seed: number, s: string): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** Kill switch → organization override → percentage rollout → global value → default. */
export function evaluateFlag(
  flag: CompiledFlag,
  organizationId: string | undefined,
  overrides: Record<string, string> | undefined,
): FlagEvaluation {
  let variant: string;
  let reason: FlagEvaluation['reason'];
  const forced = overrides?.[flag.key];
  if (flag.killed) {
    variant = flag.defaultVariant;
    reason = 'KILLED';
  } else if (forced !== undefined && forced in flag.variants) {
    variant = forced;
    reason = 'OVERRIDE';
  } else if (
    organizationId &&
    flag.rolloutBasisPoints > 0 &&
    rolloutBucket(flag.key, organizationId) < flag.rolloutBasisPoints
  ) {
    variant = flag.onVariant;
    reason = 'ROLLOUT';
  } else if (flag.enabled) {
    variant = flag.onVariant;
    reason = 'GLOBAL';
  } else {
    variant = flag.defaultVariant;
    reason = 'DEFAULT';
  }
  return { value: flag.variants[variant] ?? null, variant, reason };
}

export function evaluateAllFlags(
  set: CompiledFlagSet,
  organizationId: string | undefined,
): Record<string, FlagEvaluation> {
  const overrides = organizationId ? set.overrides[organizationId] : undefined;
  const out: Record<string, FlagEvaluation> = {};
  for (const flag of set.flags) out[flag.key] = evaluateFlag(flag, organizationId, overrides);
  return out;
}
