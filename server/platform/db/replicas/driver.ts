import type { ConnectionOptions, ConnectionType, Dictionary, Transaction } from '@mikro-orm/core';
import { PostgreSqlConnection, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { currentReadRouting } from './position.ts';
import type { ReplicaSet } from './replica-set.ts';

/**
 * MikroORM 7 sends a read outside a transaction to `driver.getConnection('read')` (`preferReadReplicas`, on by
 * default) and everything else — writes, `em.transactional`, flushes, locks (which need a transaction), raw
 * `em.getConnection().execute()` — to `getConnection('write')`. Keel decides the 'read' case per read
 * (docs/decisions/0013-read-replicas.md): a healthy replica that replayed the caller's position, else the primary.
 * Public API only (the driver's `getConnection`, its protected `createReplicas` and `replicas`, the connection's
 * `execute`); replicas.int.test.ts counts statements per server so a MikroORM upgrade that routes differently fails.
 */

/** Errors after which the server, not the statement, is at fault: the read is answered by the primary instead. */
const SERVER_GONE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, or shutting down)
  '08000',
  '08001',
  '08003',
  '08006',
  '40001', // on a standby: "canceling statement due to conflict with recovery"
]);

export function serverGone(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && SERVER_GONE_CODES.has(code)) return true;
  return /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(
    err.message,
  );
}

/** A replica's connection: a read it cannot answer because the server went away is answered by the primary. */
export class ReplicaConnection extends PostgreSqlConnection {
  /** Set by the driver right after construction. */
  fallback: { primary: PostgreSqlConnection; failed: (err: Error) => void } | undefined;

  override async execute<T extends Dictionary | Dictionary[] = Dictionary[]>(
    query: Parameters<PostgreSqlConnection['execute']>[0],
    params?: readonly unknown[] | Dictionary<unknown>,
    method?: 'all' | 'get' | 'run',
    ctx?: Transaction,
    loggerContext?: Parameters<PostgreSqlConnection['execute']>[4],
  ): Promise<T> {
    try {
      return await super.execute<T>(query, params, method, ctx, loggerContext);
    } catch (err) {
      // Only reads outside a transaction come here (ctx is always undefined); a read is safe to run again.
      if (!this.fallback || ctx || !serverGone(err)) throw err;
      this.fallback.failed(err as Error);
      return this.fallback.primary.execute<T>(query, params, method, undefined, loggerContext);
    }
  }

  /** A statement on this replica itself, never answered by the primary (the health check). */
  probe(sql: string): Promise<Dictionary[]> {
    return super.execute<Dictionary[]>(sql, [], 'all');
  }
}

export class KeelPostgreSqlDriver extends PostgreSqlDriver {
  private replicaSet: ReplicaSet | undefined;

  constructor(config: ConstructorParameters<typeof PostgreSqlDriver>[0]) {
    super(config);
    this.replicaConnections().forEach((replica, i) => {
      replica.fallback = {
        primary: this.connection,
        failed: (err) => this.replicaSet?.markDown(i, err),
      };
    });
  }

  // MikroORM's callback would build plain PostgreSqlConnections; the options it merged (URL, pool, name) are kept.
  protected override createReplicas(
    _plain: (options: ConnectionOptions) => PostgreSqlConnection,
  ): PostgreSqlConnection[] {
    return super.createReplicas((options) => new ReplicaConnection(this.config, options, 'read'));
  }

  replicaConnections(): ReplicaConnection[] {
    return this.replicas.filter((r): r is ReplicaConnection => r instanceof ReplicaConnection);
  }

  /** Starts routing reads by the set's health and positions; until then every read goes to the primary. */
  routeBy(replicaSet: ReplicaSet): void {
    this.replicaSet = replicaSet;
  }

  get replicaRouting(): ReplicaSet | undefined {
    return this.replicaSet;
  }

  override getConnection(type: ConnectionType = 'write'): PostgreSqlConnection {
    if (type === 'write' || !this.replicaSet) return this.connection;
    const routing = currentReadRouting();
    // Outside a routed caller, or once it wrote: the primary (its own writes are there).
    if (!routing || routing.wrote) return this.connection;
    const i = this.replicaSet.pick(routing.required);
    return i === undefined ? this.connection : (this.replicas[i] ?? this.connection);
  }

  override async close(force?: boolean): Promise<void> {
    this.replicaSet?.stop();
    await super.close(force);
  }
}
