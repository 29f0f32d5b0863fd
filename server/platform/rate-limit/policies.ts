/** One window of a policy: at most `points` per `duration` seconds. */
export interface LimitRule {
  points: number;
  duration: number;
  /** A single counter for everybody (a provider's quota) instead of one per key. */
  global?: boolean;
}

export interface RateLimitPolicy {
  /** What the key is, for people reading limits and logs. */
  per: string;
  rules: readonly LimitRule[];
  /**
   * Points a process reserves from Redis at once and then spends from memory (one rule, not global). It trades
   * exactness for round trips: the policy still never admits more than `points` per window fleet-wide, but a
   * key may be refused up to (processes − 1) × (lease − 1) requests early while other processes hold unspent
   * points, and near the limit each process falls back to exact one-point calls. Limits that must be exact
   * (sign-in, registration, password reset) leave it unset.
   */
  lease?: number;
}

/**
 * Every limit Keel enforces, in one place. The key is chosen by the caller (a user id, an IP, an email, an
 * organization id); a policy with several rules refuses as soon as one of them is exhausted.
 */
export const RATE_LIMIT_POLICIES = {
  // Every authenticated call pays this limit: leasing 10 at a time saves nine Redis round trips in ten.
  api: { per: 'user, or IP when anonymous', rules: [{ points: 60, duration: 60 }], lease: 10 },
  login: { per: 'IP', rules: [{ points: 5, duration: 60 }] },
  register: { per: 'IP', rules: [{ points: 3, duration: 3600 }] },
  password_reset: { per: 'email', rules: [{ points: 3, duration: 3600 }] },
  exports: { per: 'organization', rules: [{ points: 5, duration: 60 }] },
  webhooks: { per: 'organization', rules: [{ points: 60, duration: 60 }] },
  // The organization's share (the recipient's for mail outside organizations), and the mail provider's quota for the
  // whole installation.
  mail: {
    per: 'organization, or recipient outside organizations',
    rules: [
      { points: 10, duration: 60 },
      { points: 1000, duration: 3600, global: true },
    ],
  },
} as const satisfies Record<string, RateLimitPolicy>;

export type PolicyName = keyof typeof RATE_LIMIT_POLICIES;
export const POLICY_NAMES = Object.keys(RATE_LIMIT_POLICIES) as PolicyName[];
