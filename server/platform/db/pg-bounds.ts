import pg, { type Pool, type PoolClient } from 'pg';

/**
 * How long the client waits for PostgreSQL beyond the server's own statement_timeout before it gives up: the server
 * cancels a slow statement itself (an answer arrives); only a server that cannot answer at all (paused, hung, or
 * behind a network that drops packets without a reset) is left to the client's bound.
 */
export const CLIENT_GRACE_MS = 5_000;
/** TCP keepalive probes start after this much silence, so a peer that vanished is noticed by the kernel. */
const KEEPALIVE_AFTER_MS = 10_000;

/** The text pg gives the error of a query whose answer did not come within `query_timeout`. */
export const READ_TIMEOUT_MESSAGE = 'Query read timeout';

/**
 * pg Pool options bounding every statement (docs/decisions/0015-database-bounds.md):
 * - `statement_timeout` (sent when each connection starts): the server cancels a statement running longer;
 * - `query_timeout`: the client stops waiting for an answer `CLIENT_GRACE_MS` later (the server is not answering);
 * - `connectionTimeoutMillis`: the same bound for opening a connection and for waiting for one from the pool;
 * - TCP keepalive on every connection.
 * `statementTimeoutMs` 0 leaves statements unbounded (keepalive stays).
 */
export function poolBounds(statementTimeoutMs: number) {
  const keepalive = { keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_AFTER_MS };
  if (statementTimeoutMs <= 0) return keepalive;
  const clientMs = statementTimeoutMs + CLIENT_GRACE_MS;
  return {
    ...keepalive,
    statement_timeout: statementTimeoutMs,
    query_timeout: clientMs,
    connectionTimeoutMillis: clientMs,
    onPoolCreated: (pool: Pool) => pool.on('connect', closeOnReadTimeout),
  };
}

/**
 * pg answers a query that timed out on the client side with an error but keeps the connection, which is still
 * waiting for that statement's answer (and may be inside a transaction whose ROLLBACK would queue behind it). Given
 * back to the pool, it would hand the next caller a connection that is stuck, or, once the server resumes, still
 * inside the abandoned transaction. So a connection whose query timed out is ended at once: pg-pool discards an
 * ended client when it is released, and the server drops the session (rolling back its transaction) when it reads
 * the termination.
 */
function closeOnReadTimeout(client: PoolClient): void {
  if (!(client instanceof pg.Client)) return;
  const query = client.query.bind(client);
  client.query = ((...args: Parameters<typeof query>) => {
    const result: unknown = Reflect.apply(query, client, args);
    if (result instanceof Promise) {
      result.catch((err: unknown) => {
        // pg's end() destroys the socket of a client whose query is still active, instead of waiting for it.
        if (err instanceof Error && err.message === READ_TIMEOUT_MESSAGE)
          void client.end().catch(() => undefined);
      });
    }
    return result;
  }) as typeof client.query;
}
