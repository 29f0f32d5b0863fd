import { PostgreSqlConnection } from '@mikro-orm/postgresql';
import { RECORD_CSV_COLUMNS } from '../../../shared/schemas/records.ts';
import { csvCellSql } from '../../platform/csv/cell.ts';
import type { Em } from '../../platform/db/context.ts';

export interface RecordFilters {
  from: Date | null;
  to: Date | null;
  statuses: readonly string[] | null;
}

export const CSV_HEADER = `${RECORD_CSV_COLUMNS.join(',')}\n`;

// PostgreSQL writes each CSV line itself (RFC 4180: text fields always quoted, quotes doubled; commas, newlines and
// any Unicode inside quotes are then literal), so Node only moves text: no per-column parsing, escaping or
// allocation. This is what lets a cursor come close to COPY's rate. The text people typed (names, emails,
// categories) goes through csvCellSql: a cell a spreadsheet would run as a formula gets the `'` prefix.
const LINE = `concat_ws(',', r.id::text, ${csvCellSql(`coalesce(u.name, '')`)}, ${csvCellSql(`coalesce(u.email, '')`)}, ${csvCellSql('r.category')}, r.status, r.amount::text, to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

/**
 * The export query of one organization's records, as ($n-numbered SQL, parameters). The organization is a condition
 * here as well as the RLS policy's: the query is correct even on a connection that bypasses RLS. Only the filters
 * given become conditions, so each combination gets a plan for the index that serves it.
 */
export function recordsQuery(
  organizationId: string,
  f: RecordFilters,
  opts: { select: 'line' | 'count'; after?: { createdAt: Date; id: string }; limit?: number },
): { sql: string; params: unknown[] } {
  const params: unknown[] = [organizationId];
  const where = ['r.organization_id = $1'];
  if (f.from) where.push(`r.created_at >= $${params.push(f.from)}`);
  if (f.to) where.push(`r.created_at < $${params.push(f.to)}`);
  // One comma-joined text parameter rather than an array: every driver binds it the same way.
  if (f.statuses?.length)
    where.push(`r.status = any(string_to_array($${params.push(f.statuses.join(','))}, ','))`);
  if (opts.after) {
    const a = params.push(opts.after.createdAt);
    const b = params.push(opts.after.id);
    where.push(`(r.created_at, r.id) > ($${a}, $${b}::uuid)`);
  }
  if (opts.select === 'count') {
    return { sql: `select count(*)::int as n from records r where ${where.join(' and ')}`, params };
  }
  // Keyset paging needs each page's last (created_at, id); a cursor reads the line alone.
  const keys = opts.limit ? ', r.created_at as k1, r.id as k2' : '';
  const limit = opts.limit ? ` limit ${Math.floor(opts.limit)}` : '';
  return {
    sql: `select ${LINE} as line${keys} from records r left join users u on u.id = r.user_id where ${where.join(' and ')} order by r.created_at, r.id${limit}`,
    params,
  };
}

export interface CsvChunk {
  data: Buffer;
  rows: number;
}

/**
 * Lines written straight into a Buffer: no chunk-sized string is ever built (those land in V8's large-object space
 * and linger until a full GC, which is what makes a naive exporter's RSS climb by hundreds of MB).
 */
function linesToBuffer(rows: readonly { line: string }[]): Buffer {
  let buf = Buffer.allocUnsafe(Math.max(64 * 1024, rows.length * 192));
  let off = 0;
  for (const { line } of rows) {
    // At most 3 bytes per UTF-16 unit, plus the newline.
    const need = line.length * 3 + 1;
    if (off + need > buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, off + need));
      buf.copy(bigger, 0, 0, off);
      buf = bigger;
    }
    off += buf.write(line, off, 'utf8');
    buf[off++] = 10;
  }
  return buf.subarray(0, off);
}

/** Cursor names are per transaction; a sequence keeps two readers in one transaction apart. */
let cursorSeq = 0;

/**
 * The organization's records as CSV text, a chunk of up to `chunkRows` lines at a time, in constant memory. Must
 * run inside a transaction of `em` (the tenant's role and RLS apply to it, and the snapshot keeps the file
 * consistent). On PostgreSQL a server-side cursor streams one query; PGlite, which has no cursors, pages by keyset
 * over the (organization, created_at, id) index instead.
 *
 * The cursor is SQL's (`DECLARE … CURSOR`, then `FETCH n` as ordinary statements), not pg-cursor's protocol-level
 * portal: each fetch is a query that fails at once on a dead connection, and the transaction's end closes the cursor.
 * pg-cursor's `close()` after a connection error waits for a readyForQuery that a dead server never sends, so an
 * export running when PostgreSQL stopped hung until its 30-minute timeout, holding its organization's overlap lock.
 */
export async function* recordCsvChunks(
  em: Em,
  organizationId: string,
  filters: RecordFilters,
  chunkRows = 10_000,
): AsyncGenerator<CsvChunk> {
  const trx = em.getTransactionContext();
  if (!trx) throw new Error('recordCsvChunks must run inside a transaction');
  const connection = em.getConnection();
  if (connection instanceof PostgreSqlConnection) {
    const { sql, params } = recordsQuery(organizationId, filters, { select: 'line' });
    const cursor = `keel_records_${++cursorSeq}`;
    await connection.execute(
      `declare ${cursor} no scroll cursor for ${sql.replace(/\$\d+/g, '?')}`,
      params,
      'run',
      trx,
    );
    const fetch = `fetch forward ${Math.floor(chunkRows)} from ${cursor}`;
    for (;;) {
      const rows = await connection.execute<{ line: string }[]>(fetch, [], 'all', trx);
      if (!rows.length) return;
      yield { data: linesToBuffer(rows), rows: rows.length };
      if (rows.length < chunkRows) return;
    }
  }
  let after: { createdAt: Date; id: string } | undefined;
  for (;;) {
    const { sql, params } = recordsQuery(organizationId, filters, {
      select: 'line',
      limit: chunkRows,
      ...(after ? { after } : {}),
    });
    const rows = await connection.execute<{ line: string; k1: Date | string; k2: string }[]>(
      sql.replace(/\$\d+/g, '?'),
      params,
      'all',
      trx,
    );
    if (!rows.length) return;
    yield { data: linesToBuffer(rows), rows: rows.length };
    const last = rows[rows.length - 1]!;
    after = { createdAt: new Date(last.k1), id: last.k2 };
    if (rows.length < chunkRows) return;
  }
}

export async function countRecords(em: Em, organizationId: string, filters: RecordFilters): Promise<number> {
  const { sql, params } = recordsQuery(organizationId, filters, { select: 'count' });
  const rows = await em
    .getConnection()
    .execute<{ n: number }[]>(sql.replace(/\$\d+/g, '?'), params, 'all', em.getTransactionContext());
  return Number(rows[0]?.n ?? 0);
}
