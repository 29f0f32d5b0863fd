import { AsyncLocalStorage } from 'node:async_hooks';
import { requestScoped } from '../../async/detached.ts';

/**
 * Read-your-writes by WAL position (docs/decisions/0013-read-replicas.md). A PostgreSQL LSN (`16/B374D848`) is a
 * 64-bit byte position in the write-ahead log; a replica whose `pg_last_wal_replay_lsn()` is at or past the
 * position a write's commit was at when it returned has replayed that write.
 */

/** Parses PostgreSQL's `X/Y` text form of an LSN. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text);
  if (!m) throw new Error(`Not a WAL position: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** 16 hex digits: compares as a string in the same order as the number (Redis keeps it so, see read-positions.ts). */
export function lsnKey(lsn: bigint): string {
  return lsn.toString(16).padStart(16, '0');
}

export function lsnFromKey(key: string): bigint | undefined {
  return /^[0-9a-f]{16}$/.test(key) ? BigInt(`0x${key}`) : undefined;
}

/**
 * What the reads of one request or job may use. Outside any routing (scripts, the outbox relay, anonymous calls,
 * jobs dispatched by them) every read goes to the primary: replicas serve only callers who opted in and whose
 * writes are tracked.
 */
export interface ReadRouting {
  /** The replay position a replica must have reached to serve this caller (0n: any healthy replica). */
  required: bigint;
  /** True once this caller sent a statement that may have written on the primary: its later reads stay there. */
  wrote: boolean;
}

const routings = requestScoped(new AsyncLocalStorage<ReadRouting>());

export function currentReadRouting(): ReadRouting | undefined {
  return routings.getStore();
}

/** Runs fn with reads routable to replicas that replayed `required`. */
export function withReadRouting<T>(required: bigint, fn: () => T): T {
  return routings.run({ required, wrote: false }, fn);
}

/** Statements that only read (anything else on the primary may write: `begin`, DML, DDL, `with … insert`). */
const READ_ONLY = /^\s*(select|show|explain)\b/i;

/**
 * Called for every statement MikroORM logs, with the connection it ran on. A statement on the primary that is not a
 * plain read marks the caller as a writer: from then on its reads go to the primary, and its position is recorded
 * when the request ends or it dispatches a job.
 */
export function noteStatement(sql: string, connectionType: string | undefined): void {
  if (connectionType !== 'write') return;
  const routing = routings.getStore();
  if (routing && !routing.wrote && !READ_ONLY.test(sql)) routing.wrote = true;
}
