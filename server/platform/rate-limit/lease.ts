import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** What one consume decided, in the limiter's own terms (the fleet-wide window, read at the last Redis call). */
export interface LeaseOutcome {
  allowed: boolean;
  /** Points left fleet-wide (Redis) plus what this process still holds for the key. */
  remaining: number;
  msBeforeNext: number;
}

interface Budget {
  /** Points reserved from Redis and not yet spent here. */
  left: number;
  /** What Redis had left after the last reservation: a hint for the next one's size near the limit. */
  fleetRemaining: number;
  /** End of the window the points were reserved in: unspent points lapse with it, as in Redis. */
  windowEnd: number;
}

/**
 * Local budgets for one rate-limit rule: a process reserves `lease` points per key from Redis in one call and
 * spends them from memory, so a steady caller costs one Redis round trip per `lease` requests instead of one per
 * request. Every admitted request was reserved in Redis first, so the rule never admits more than its points per
 * window across the fleet; what is reserved but unspent when the window ends lapses (a refusal can come early by
 * up to what other processes hold). Near the limit a reservation that does not fit is given back and the process
 * reserves one point at a time, exactly as without leasing.
 */
export class LeasedBudgets {
  private readonly budgets = new Map<string, Budget>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly lease: number,
    /** Most keys held at once; the oldest is dropped (its unspent points lapse, which only refuses earlier). */
    private readonly maxKeys = 10_000,
  ) {}

  async consume(limiter: RateLimiterAbstract, key: string, points: number): Promise<LeaseOutcome> {
    for (;;) {
      const budget = this.budgets.get(key);
      const now = Date.now();
      if (budget && budget.windowEnd > now && budget.left >= points) {
        budget.left -= points;
        return {
          allowed: true,
          remaining: budget.fleetRemaining + budget.left,
          msBeforeNext: budget.windowEnd - now,
        };
      }
      // One reservation per key at a time: concurrent requests of one caller wait for it instead of each
      // reserving a batch of their own.
      const inFlight = this.pending.get(key);
      if (inFlight) {
        await inFlight;
        continue;
      }
      const reservation = this.reserve(limiter, key, points, budget);
      const settled = reservation.then(
        () => undefined,
        () => undefined,
      );
      this.pending.set(key, settled);
      try {
        return await reservation;
      } finally {
        this.pending.delete(key);
      }
    }
  }

  /** Reserves a batch (or exactly `points` near the limit) and spends this request's points from it. */
  private async reserve(
    limiter: RateLimiterAbstract,
    key: string,
    points: number,
    previous: Budget | undefined,
  ): Promise<LeaseOutcome> {
    const hint = previous && previous.windowEnd > Date.now() ? previous.fleetRemaining : Infinity;
    const size = Math.max(points, Math.min(this.lease, hint));
    try {
      return this.spend(key, await reserved(limiter, key, size), points);
    } catch (err) {
      if (!(err instanceof RateLimiterRes) || size === points) return refusal(err);
      // The batch did not fit: give it back and ask for exactly what this request needs.
      await limiter.reward(key, size).catch(() => undefined);
      try {
        return this.spend(key, await reserved(limiter, key, points), points);
      } catch (exact) {
        return refusal(exact);
      }
    }
  }

  private spend(key: string, budget: Budget, points: number): LeaseOutcome {
    budget.left -= points;
    this.budgets.delete(key); // re-insert at the end: Map order is the eviction order
    this.budgets.set(key, budget);
    if (this.budgets.size > this.maxKeys) {
      const oldest = this.budgets.keys().next();
      if (!oldest.done) this.budgets.delete(oldest.value);
    }
    return {
      allowed: true,
      remaining: budget.fleetRemaining + budget.left,
      msBeforeNext: Math.max(0, budget.windowEnd - Date.now()),
    };
  }
}

async function reserved(limiter: RateLimiterAbstract, key: string, size: number): Promise<Budget> {
  const res = await limiter.consume(key, size);
  return {
    left: size,
    fleetRemaining: Math.max(0, res.remainingPoints),
    windowEnd: Date.now() + Math.max(0, res.msBeforeNext),
  };
}

function refusal(err: unknown): LeaseOutcome {
  if (!(err instanceof RateLimiterRes)) throw err;
  return { allowed: false, remaining: 0, msBeforeNext: err.msBeforeNext };
}
