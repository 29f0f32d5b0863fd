import type { Dictionary } from '@mikro-orm/core';
import { PostgreSqlConnection } from '@mikro-orm/postgresql';
import { CompiledQuery, type DatabaseConnection } from 'kysely';
import { contextEm } from './context.ts';

/**
 * The tenant scope of a statement travels on the pooled PostgreSQL connection instead of in a transaction around it
 * (docs/decisions/0012-tenant-scope-per-connection.md). Every time a connection is reserved from the pool (one
 * statement outside a transaction, or a whole transaction), the scope the caller needs — the context
 * EntityManager's session context: the tenant's `set_config` variables and the `keel_app` role, or nothing for the
 * owner — is compared with the scope that physical connection was last switched to. Equal: nothing is sent, the
 * read is one round trip. Different: ONE statement switches both at session level before anything else runs on
 * the connection (so before a `begin`, never inside a transaction whose rollback could undo it).
 */

/** What a session carries: its role (undefined: the connecting user, who owns the tables) and its variables. */
export interface SessionScope {
  readonly role: string | undefined;
  readonly variables: Readonly<Record<string, string>>;
}

interface SessionContext {
  role?: string;
  variables?: Dictionary;
}

/** Same serialisation as MikroORM's `set_config` for the transaction strategy (Dates as ISO 8601). */
function settingValue(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

export function scopeOf(context: SessionContext | undefined): SessionScope {
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(context?.variables ?? {})) variables[key] = settingValue(value);
  return { role: context?.role, variables };
}

function sameScope(a: SessionScope, b: SessionScope): boolean {
  const keys = Object.keys(a.variables);
  return (
    a.role === b.role &&
    keys.length === Object.keys(b.variables).length &&
    keys.every((k) => a.variables[k] === b.variables[k])
  );
}

/**
 * The one statement that moves a session from `from` (undefined: unknown, e.g. a connection just opened) to `to`, or
 * undefined when it already carries `to`. Variables `from` set that `to` does not are emptied, so a tenant id never
 * outlives its scope on the connection; `role` `none` is `reset role` (back to the owner). Values are bound
 * parameters, so neither a tenant id nor a role name is ever spliced into SQL.
 */
export function switchStatement(
  from: SessionScope | undefined,
  to: SessionScope,
): { sql: string; params: string[] } | undefined {
  if (from && sameScope(from, to)) return undefined;
  const settings: [string, string][] = Object.entries(to.variables);
  for (const key of Object.keys(from?.variables ?? {})) if (!(key in to.variables)) settings.push([key, '']);
  settings.push(['role', to.role ?? 'none']);
  return {
    sql: `select ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`,
    params: settings.flat(),
  };
}

type ReserveHook = (connection: DatabaseConnection) => Promise<void>;

/** The pool's reserve hook: switches the connection to the caller's scope when (and only when) it differs. */
export function scopeSwitchOnReserve(
  onStatement: (sql: string, tookMs: number) => void,
  userHook: ReserveHook | undefined,
): ReserveHook {
  // Keyed by Kysely's connection object, which Kysely keeps one-to-one with a pg client for the client's life; a
  // client the pool drops (error, idle timeout) takes its entry with it, and a new one starts unknown.
  const carried = new WeakMap<DatabaseConnection, SessionScope>();
  return async (connection) => {
    const wanted = scopeOf(contextEm()?.getSessionContext());
    const statement = switchStatement(carried.get(connection), wanted);
    if (statement) {
      // Until the switch is confirmed the session's state is unknown: a failure leaves it unknown, so the next
      // reservation switches again rather than trusting a stale entry.
      carried.delete(connection);
      const started = performance.now();
      await connection.executeQuery(CompiledQuery.raw(statement.sql, statement.params));
      onStatement(statement.sql, performance.now() - started);
      carried.set(connection, wanted);
    }
    await userHook?.(connection);
  };
}

/**
 * MikroORM's private method that builds the reserve hook for `sessionContext: 'connection'` (7.2: `reset all`, then
 * `select set_config(…)`, then `set role`/`reset role` on every reservation — three round trips). Keel replaces it
 * on its connection instance; server/platform/db/tenant-scope.int.test.ts fails if MikroORM stops calling it.
 */
export const MIKRO_ORM_RESERVE_HOOK_FACTORY = 'composeSessionContextOnReserve';

/** Makes `connection` switch tenant scope per physical connection; call before its first query. */
export function installScopeSwitch(
  connection: PostgreSqlConnection,
  onStatement: (sql: string, tookMs: number) => void,
): void {
  const original: unknown = Reflect.get(PostgreSqlConnection.prototype, MIKRO_ORM_RESERVE_HOOK_FACTORY);
  // Refuse to boot rather than silently fall back to three statements per reservation after a MikroORM upgrade.
  if (typeof original !== 'function' || original.length !== 1) {
    throw new Error(
      `MikroORM's PostgreSqlConnection.${MIKRO_ORM_RESERVE_HOOK_FACTORY}(userHook) changed: see docs/decisions/0012-tenant-scope-per-connection.md`,
    );
  }
  Reflect.defineProperty(connection, MIKRO_ORM_RESERVE_HOOK_FACTORY, {
    value: (userHook: ReserveHook | undefined) => scopeSwitchOnReserve(onStatement, userHook),
  });
}
