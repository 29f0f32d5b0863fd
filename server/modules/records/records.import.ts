import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { z } from 'zod';
import { RECORD_STATUSES, AMOUNT_PATTERN, type RecordStatus } from '../../../shared/schemas/records.ts';
import type { ImportRowError } from '../../../shared/schemas/imports.ts';
import { readCsvCell } from '../../platform/csv/cell.ts';

/** A row that passed validation, ready to insert. */
export interface ImportRow {
  userId: string | null;
  category: string;
  status: RecordStatus;
  amount: string;
  createdAt: Date;
}

export interface ScanResult {
  /** Data rows read (the header excluded). */
  rows: number;
  errorCount: number;
  /** Set when the file itself is unreadable (not text, broken quoting, a record or header too large). */
  fatal: ImportRowError | null;
}

export interface ScanOptions {
  /** Lower-cased email → user id of the organization's members: an Email cell must name one of them. */
  members: ReadonlyMap<string, string>;
  onRow?: (row: ImportRow, line: number) => Promise<void> | void;
  onError?: (error: ImportRowError) => Promise<void> | void;
  signal?: AbortSignal;
  now?: Date;
}

/** Largest record accepted, in characters: far above a real row, far below a CSV bomb (huge field, endless columns). */
export const MAX_RECORD_CHARS = 64 * 1024;
const MAX_COLUMNS = 20;

const COLUMNS = {
  id: 'ID',
  user: 'User',
  email: 'Email',
  category: 'Category',
  status: 'Status',
  amount: 'Amount',
  'created at': 'Created At',
} as const;
type Column = keyof typeof COLUMNS;
const REQUIRED: Column[] = ['category', 'status', 'amount'];

const emailSchema = z.email();
const hasControlChars = (s: string) =>
  [...s].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f;
  });

class NotText extends Error {
  override name = 'NotText';
}

class LineTooLong extends Error {
  override name = 'LineTooLong';
}

/**
 * Refuses bytes that are not UTF-8 text (a NUL, or an invalid sequence) and physical lines over MAX_RECORD_CHARS
 * before the CSV parser sees them. The parser's own record limit counts field characters, so a line of millions of
 * empty fields (",,,,…") would pass it and become an array of millions of strings.
 */
class Utf8Guard extends Transform {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private offset = 0;
  private lineLength = 0;
  private lines = 1;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.includes(0))
      return done(
        new NotText(
          `the file is binary, not CSV text (NUL byte near byte ${this.offset + chunk.indexOf(0)})`,
        ),
      );
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      return done(new NotText(`the file is not UTF-8 text (invalid bytes near byte ${this.offset})`));
    }
    this.offset += chunk.length;
    const last = text.lastIndexOf('\n');
    if (last === -1) this.lineLength += text.length;
    else {
      for (let i = text.indexOf('\n'); i !== -1 && i < last; i = text.indexOf('\n', i + 1)) this.lines++;
      this.lines++;
      this.lineLength = text.length - last - 1;
    }
    if (this.lineLength > MAX_RECORD_CHARS) {
      return done(
        new LineTooLong(
          `line ${this.lines} is longer than ${MAX_RECORD_CHARS / 1024} KB (a huge field or far too many columns)`,
        ),
      );
    }
    done(null, text);
  }
  override _flush(done: TransformCallback): void {
    try {
      done(null, this.decoder.decode());
    } catch {
      done(new NotText('the file ends in the middle of a UTF-8 character'));
    }
  }
}

/**
 * Reads a records CSV (header: Category, Status, Amount, optionally Email and Created At; ID and User are accepted
 * and ignored so an export can be imported back) and validates every row, reporting each problem with its line and
 * column. Rows stream through: memory does not grow with the file. onRow is awaited, so a slow consumer (an insert)
 * pauses the reading.
 */
export async function scanRecordsCsv(source: Readable, opts: ScanOptions): Promise<ScanResult> {
  const now = opts.now ?? new Date();
  const result: ScanResult = { rows: 0, errorCount: 0, fatal: null };
  const report = async (e: ImportRowError) => {
    result.errorCount += 1;
    await opts.onError?.(e);
  };
  const parser = parse({
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARS,
    info: true,
  });
  const guard = new Utf8Guard();
  source.on('error', (err) => guard.destroy(err));
  guard.on('error', (err) => parser.destroy(err));
  source.pipe(guard).pipe(parser);
  let header: (Column | null)[] | null = null;
  let line = 0;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      opts.signal?.throwIfAborted();
      line = item.info.lines;
      if (!header) {
        const problem = headerProblem(item.record);
        if (problem) {
          result.fatal = { line, column: problem.column, reason: problem.reason };
          await report(result.fatal);
          return result;
        }
        header = item.record.map((h) => normalizeHeader(h));
        continue;
      }
      result.rows += 1;
      const { row, errors } = validateRow(item.record, header, opts.members, now);
      if (errors.length) for (const e of errors) await report({ line, ...e });
      else await opts.onRow?.(row!, line);
    }
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const reason =
      err instanceof NotText || err instanceof LineTooLong
        ? err.message
        : err instanceof CsvError
          ? csvReason(err)
          : null;
    if (reason === null) throw err;
    result.fatal = { line: line + 1, column: '-', reason };
    await report(result.fatal);
    return result;
  } finally {
    source.destroy();
  }
  if (!header) {
    result.fatal = { line: 1, column: '-', reason: 'the file is empty: a header row is required' };
    await report(result.fatal);
  }
  return result;
}

function csvReason(err: CsvError): string {
  if (err.code === 'CSV_MAX_RECORD_SIZE') {
    return `a record is larger than ${MAX_RECORD_CHARS / 1024} KB (a huge field or far too many columns)`;
  }
  if (err.code === 'CSV_QUOTE_NOT_CLOSED') return 'a quoted field is never closed';
  return `the file is not valid CSV: ${err.message.slice(0, 200)}`;
}

const normalizeHeader = (h: string): Column | null => {
  const key = h
    .trim()
    .toLowerCase()
    .replace(/[_\s]+/g, ' ');
  return key in COLUMNS ? (key as Column) : null;
};

function headerProblem(record: string[]): { column: string; reason: string } | null {
  if (record.length > MAX_COLUMNS) {
    return {
      column: '-',
      reason: `the header has ${record.length} columns; at most ${MAX_COLUMNS} are read`,
    };
  }
  const seen = new Set<Column>();
  for (const raw of record) {
    const col = normalizeHeader(raw);
    if (!col)
      return {
        column: raw.slice(0, 60),
        reason: `unknown column (expected ${Object.values(COLUMNS).join(', ')})`,
      };
    if (seen.has(col)) return { column: COLUMNS[col], reason: 'the column appears twice' };
    seen.add(col);
  }
  const missing = REQUIRED.filter((c) => !seen.has(c));
  if (missing.length)
    return { column: missing.map((c) => COLUMNS[c]).join(', '), reason: 'required column missing' };
  return null;
}

function validateRow(
  record: string[],
  header: (Column | null)[],
  members: ReadonlyMap<string, string>,
  now: Date,
): { row?: ImportRow; errors: { column: string; reason: string }[] } {
  const errors: { column: string; reason: string }[] = [];
  if (record.length !== header.length) {
    return { errors: [{ column: '-', reason: `expected ${header.length} columns, found ${record.length}` }] };
  }
  const cell = (c: Column) => {
    const i = header.indexOf(c);
    // An export neutralised formula-like text with a `'` (platform/csv): read back, it is the text again.
    return i < 0 ? '' : readCsvCell((record[i] ?? '').trim());
  };

  let userId: string | null = null;
  const email = cell('email').toLowerCase();
  if (email) {
    if (!emailSchema.safeParse(email).success)
      errors.push({ column: 'Email', reason: 'is not a valid email address' });
    else {
      userId = members.get(email) ?? null;
      if (!userId) errors.push({ column: 'Email', reason: 'is not a member of this organization' });
    }
  }

  const category = cell('category');
  if (!category) errors.push({ column: 'Category', reason: 'is required' });
  else if (category.length > 64) errors.push({ column: 'Category', reason: 'must be at most 64 characters' });
  else if (hasControlChars(category))
    errors.push({ column: 'Category', reason: 'must not contain control characters' });

  const status = cell('status').toLowerCase();
  if (!(RECORD_STATUSES as readonly string[]).includes(status)) {
    errors.push({ column: 'Status', reason: `must be one of ${RECORD_STATUSES.join(', ')}` });
  }

  const amount = cell('amount');
  if (!AMOUNT_PATTERN.test(amount)) {
    errors.push({ column: 'Amount', reason: 'must be a number with at most 2 decimals (e.g. 1234.50)' });
  }

  let createdAt = now;
  const created = cell('created at');
  if (created) {
    const d = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(created)
      ? new Date(created)
      : null;
    if (
      !d ||
      Number.isNaN(d.getTime()) ||
      d.getUTCFullYear() < 1970 ||
      d.getTime() > now.getTime() + 86_400_000
    ) {
      errors.push({ column: 'Created At', reason: 'must be an ISO 8601 date, not in the future' });
    } else createdAt = d;
  }
  if (errors.length) return { errors };
  return { row: { userId, category, status: status as RecordStatus, amount, createdAt }, errors };
}
