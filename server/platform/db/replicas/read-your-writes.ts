import type { RedisClient } from '../../redis/redis.ts';
import type { Em } from '../context.ts';
import type { Logger } from '../../logger/logger.ts';
import { currentReadRouting, lsnFromKey, lsnKey, parseLsn, withReadRouting } from './position.ts';
import type { ReplicaSet } from './replica-set.ts';

/**
 * Where a caller's last write ended on the primary, kept per principal in Redis so that every API process routes the
 * caller's next reads by it (docs/decisions/0013-read-replicas.md, after GitLab's database load balancing). The key
 * lives `ttlSeconds` (deps.ts: at least twice the lag limit): longer than any replica may lag and stay in rotation, so
 * by then every replica in rotation has replayed it.
 */

// Raise-only: concurrent requests of one principal finish in any order, and an older position must not replace a
// newer one. Positions are 16 hex digits, so string order is numeric order.
const RECORD = `local cur = redis.call('GET', KEYS[1])
if (not cur) or cur < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1`;

/** The primary's current WAL insert position: at or past the commit of every write that returned before it. */
export async function primaryPosition(em: Em): Promise<bigint> {
  const rows = await em
    .getConnection('write')
    .execute<{ lsn: string }[]>('select pg_current_wal_insert_lsn()::text as lsn');
  return parseLsn(rows[0]?.lsn ?? '');
}

/**
 * The position a job dispatched now must read at (the envelope's `rp`), or undefined outside routed reads (the job
 * then reads from the primary). A dispatcher that wrote asks the primary where its writes ended.
 */
export async function readPositionForJob(em: Em): Promise<string | undefined> {
  const routing = currentReadRouting();
  if (!routing) return undefined;
  if (routing.wrote) {
    const at = await primaryPosition(em);
    if (at > routing.required) routing.required = at;
  }
  return lsnKey(routing.required);
}

/** Runs a job's handler with the reads its envelope allows: replicas at or past `rp`, or the primary without one. */
export function withJobReadRouting<T>(rp: string | undefined, fn: () => T): T {
  const required = rp === undefined ? undefined : lsnFromKey(rp);
  return required === undefined ? fn() : withReadRouting(required, fn);
}

export interface ReadYourWritesOptions {
  replicas: ReplicaSet | undefined;
  redis: RedisClient;
  keyspace: string;
  em: Em;
  logger: Logger;
  ttlSeconds?: number;
}

export class ReadYourWrites {
  private readonly ttlSeconds: number;

  constructor(private readonly opts: ReadYourWritesOptions) {
    this.ttlSeconds = opts.ttlSeconds ?? 60;
  }

  private key(principal: string): string {
    return `${this.opts.keyspace}rp:${principal}`;
  }

  /** The position recorded for a principal (0n: none, or expired). */
  async positionOf(principal: string): Promise<bigint> {
    return lsnFromKey((await this.opts.redis.get(this.key(principal))) ?? '') ?? 0n;
  }

  /**
   * Runs a principal's call with its reads routed to replicas that replayed the principal's last write; if the call
   * writes, its reads stay on the primary and, before it returns, where its writes ended is recorded for the next.
   * Without replicas, fn runs as is.
   */
  async run<T>(principal: string, fn: () => Promise<T>): Promise<T> {
    const { replicas } = this.opts;
    if (!replicas) return fn();
    let required: bigint;
    try {
      required = await this.positionOf(principal);
    } catch (err) {
      // Without the position the caller's last write may not be on any replica: everything from the primary.
      this.opts.logger.warn({ err }, 'read position unavailable; reading from the primary');
      return fn();
    }
    await replicas.refreshIfBehind(required);
    return withReadRouting(required, async () => {
      const routing = currentReadRouting()!;
      try {
        return await fn();
      } finally {
        if (routing.wrote) await this.record(principal);
      }
    });
  }

  private async record(principal: string): Promise<void> {
    try {
      const at = await primaryPosition(this.opts.em);
      await this.opts.redis.eval(RECORD, 1, this.key(principal), lsnKey(at), String(this.ttlSeconds));
    } catch (err) {
      // The write itself succeeded; the caller's next read on another process may then come from a replica that
      // has not replayed it yet (for at most the lag limit). Failing the call would not undo the write.
      this.opts.logger.warn({ err }, 'read position not recorded');
    }
  }
}
