import type { Logger } from '../../logger/logger.ts';
import { runDetached } from '../../async/detached.ts';
import { parseLsn } from './position.ts';

/** Runs one read-only statement on a server and returns its rows. */
export type Query = (sql: string) => Promise<Record<string, unknown>[]>;

export interface ReplicaTarget {
  /** Host:port/database, never the password: it appears in /readyz, /metrics and logs. */
  name: string;
  query: Query;
}

export interface ReplicaState {
  name: string;
  /** In rotation: answered the last check and lagged no more than the limit. */
  healthy: boolean;
  /** Milliseconds behind the primary at the last check (0 when it had replayed everything), undefined when down. */
  lagMs: number | undefined;
  /** Replay position at the last check (it only grows while the replica lives). */
  replayed: bigint;
  /** When replayed was read (performance.now()). */
  checkedAt: number;
  /** Why it is out of rotation. */
  reason: string | undefined;
}

export interface ReplicaSetOptions {
  primary: Query;
  replicas: ReplicaTarget[];
  maxLagMs: number;
  checkMs: number;
  logger: Logger;
}

// The replica's replay position, and how long ago the last transaction it replayed committed on the primary: the
// usual lag measure, but only while something is left to replay (an idle primary commits nothing, and the replica
// is then not behind however old its last replayed commit is).
const REPLICA_STATUS = `select pg_is_in_recovery() as recovering, pg_last_wal_replay_lsn()::text as replayed,
  coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000, 0)::float8 as since_replay`;
const PRIMARY_POSITION = 'select pg_current_wal_lsn()::text as lsn';

/** Read positions that fresh: no need to ask the replicas again before deciding a read. */
const FRESH_MS = 100;

/**
 * The replicas, each in or out of rotation, and the replay position each was last seen at. A periodic check keeps
 * both current; `pick` decides one read from them without a round trip, `refreshIfBehind` asks again when a caller
 * needs a position no replica was seen at (their positions only grow, so a replica that qualified still does).
 */
export class ReplicaSet {
  private readonly states: ReplicaState[];
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  readonly reads = { replica: 0, primary: 0 };

  constructor(private readonly opts: ReplicaSetOptions) {
    this.states = opts.replicas.map((r) => ({
      name: r.name,
      healthy: false,
      lagMs: undefined,
      replayed: 0n,
      checkedAt: 0,
      reason: 'not checked yet',
    }));
  }

  /** Checks once (so a healthy replica serves from the first request) and then every checkMs. */
  async start(): Promise<void> {
    await this.check();
    // Detached: started lazily during a request, the interval would otherwise run in that request's scope.
    this.timer = runDetached(() =>
      setInterval(() => void this.check().catch(() => undefined), this.opts.checkMs),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  snapshot(): readonly ReplicaState[] {
    return this.states.map((s) => ({ ...s }));
  }

  /** A replica to serve a read that needs position `required`: a random healthy one that replayed it, or none. */
  pick(required: bigint): number | undefined {
    let chosen: number | undefined;
    let seen = 0;
    // Reservoir sampling over the qualifying replicas: uniform without building a list per read.
    for (let i = 0; i < this.states.length; i++) {
      const s = this.states[i]!;
      if (!s.healthy || s.replayed < required) continue;
      seen += 1;
      if (Math.random() * seen < 1) chosen = i;
    }
    if (chosen === undefined) {
      this.reads.primary += 1;
      // Behind positions that are not fresh: ask again in the background, so the caller's next reads may qualify.
      const now = performance.now();
      if (required > 0n && this.states.some((s) => s.healthy && now - s.checkedAt >= FRESH_MS)) {
        void this.check().catch(() => undefined);
      }
    } else this.reads.replica += 1;
    return chosen;
  }

  /**
   * Before a caller with a recorded position reads: when no healthy replica was last seen at or past it and what
   * was seen is not fresh, read the replay positions again (one statement per replica, in parallel). Never clears
   * the caller's position: each read is still decided against it (gitlab#413203).
   */
  async refreshIfBehind(required: bigint): Promise<void> {
    if (required === 0n) return;
    const now = performance.now();
    const behind = this.states.filter((s) => s.healthy && s.replayed < required);
    if (behind.length === 0 || behind.length < this.states.filter((s) => s.healthy).length) return;
    if (behind.every((s) => now - s.checkedAt < FRESH_MS)) return;
    await this.check();
  }

  /** A read on replica i failed because the server went away: out of rotation until a check finds it back. */
  markDown(i: number, err: Error): void {
    const state = this.states[i];
    if (!state?.healthy) return;
    state.healthy = false;
    state.lagMs = undefined;
    state.replayed = 0n;
    state.reason = `down: ${err.message}`;
    this.opts.logger.warn({ replica: state.name, reason: state.reason }, 'database replica out of rotation');
  }

  /** One check of every replica; concurrent callers share it. Detached: a caller's tenant scope is not the check's. */
  check(): Promise<void> {
    this.checking ??= runDetached(() => this.runCheck()).finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async runCheck(): Promise<void> {
    const timeoutMs = Math.max(this.opts.checkMs, 2000);
    const primary = await withTimeout(this.opts.primary(PRIMARY_POSITION), timeoutMs).then(
      (rows) => parseLsn(String(rows[0]?.lsn)),
      () => undefined,
    );
    await Promise.all(
      this.opts.replicas.map(async (replica, i) => {
        const state = this.states[i]!;
        const before = state.healthy;
        try {
          const row = (await withTimeout(replica.query(REPLICA_STATUS), timeoutMs))[0];
          if (row?.recovering !== true) throw new Error('not a replica (pg_is_in_recovery() is false)');
          if (typeof row.replayed !== 'string') throw new Error('has replayed no WAL yet');
          const replayed = parseLsn(row.replayed);
          const lagMs =
            primary !== undefined && replayed >= primary ? 0 : Math.round(Number(row.since_replay));
          state.replayed = replayed > state.replayed ? replayed : state.replayed;
          state.checkedAt = performance.now();
          state.lagMs = lagMs;
          state.healthy = lagMs <= this.opts.maxLagMs;
          state.reason = state.healthy ? undefined : `lags ${lagMs} ms (limit ${this.opts.maxLagMs} ms)`;
        } catch (err) {
          state.healthy = false;
          state.lagMs = undefined;
          // A restarted replica may come back from an older base: its position is learnt again.
          state.replayed = 0n;
          state.reason = `down: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (before !== state.healthy) {
          if (state.healthy) this.opts.logger.info({ replica: state.name }, 'database replica in rotation');
          else
            this.opts.logger.warn(
              { replica: state.name, reason: state.reason },
              'database replica out of rotation',
            );
        }
      }),
    );
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]);
}
