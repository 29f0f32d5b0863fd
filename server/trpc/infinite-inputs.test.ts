import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { appRouter } from './router.ts';

/**
 * `useInfiniteQuery` through @trpc/tanstack-react-query sends `cursor` (the page param) and `direction` with the
 * input of every page it loads. A list whose strict input lacks either answers VALIDATION_FAILED to every request
 * the SPA makes (the documents list did, and no test opened it). This finds every infinite query in web/src and
 * asks its procedure's input schema about both fields.
 */
const webSrc = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../web/src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) ? [full] : [];
  });
}

/** `trpc.a.b.infiniteQueryOptions(` → `a.b`, for every use in the SPA. */
function infiniteQueryProcedures(): { file: string; procedure: string }[] {
  return sourceFiles(webSrc).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\btrpc((?:\.\w+)+)\.infiniteQueryOptions\s*\(/g)].map((m) => ({
      file: path.relative(webSrc, file),
      procedure: m[1]!.slice(1),
    })),
  );
}

interface Issue {
  code: string;
  path: PropertyKey[];
  keys?: string[];
}
interface Schema {
  safeParse(value: unknown): { success: boolean; error?: { issues: Issue[] } };
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && 'safeParse' in value;
}

function inputSchemasOf(procedure: string): Schema[] {
  const procedures: Record<string, unknown> = appRouter._def.procedures;
  const p = procedures[procedure];
  // A tRPC procedure is a function carrying its definition.
  if (typeof p !== 'function' || !('_def' in p)) return [];
  const def = p._def;
  if (typeof def !== 'object' || def === null || !('inputs' in def) || !Array.isArray(def.inputs)) return [];
  return def.inputs.filter(isSchema);
}

/** Issues about the paging fields only: a list's own required filters are not what this checks. */
function pagingIssues(schema: Schema, input: Record<string, unknown>): Issue[] {
  const result = schema.safeParse(input);
  if (result.success) return [];
  return (result.error?.issues ?? []).filter(
    (i) =>
      i.path[0] === 'cursor' ||
      i.path[0] === 'direction' ||
      (i.code === 'unrecognized_keys' && (i.keys ?? []).some((k) => k === 'cursor' || k === 'direction')),
  );
}

describe('infinite queries of the SPA', () => {
  const uses = infiniteQueryProcedures();

  it('are found in web/src (the scan itself works)', () => {
    expect(uses.map((u) => u.procedure)).toContain('documents.list');
  });

  it.each(uses)(
    '$procedure ($file) accepts the cursor and direction the integration sends',
    ({ procedure }) => {
      const schemas = inputSchemasOf(procedure);
      expect(schemas.length, `${procedure} is a procedure with an input schema`).toBeGreaterThan(0);
      for (const schema of schemas) {
        // The first page (no page param yet) and a later page, as @trpc/tanstack-react-query builds them.
        expect(pagingIssues(schema, { direction: 'forward' })).toEqual([]);
        expect(pagingIssues(schema, { cursor: null, direction: 'forward' })).toEqual([]);
        // A later page: the key is accepted as a string (a list may still refuse a cursor it did not hand out,
        // as documents.list does, so only unknown-key and wrong-type refusals count here).
        expect(
          pagingIssues(schema, { cursor: 'opaque-cursor', direction: 'forward' }).filter(
            (i) => i.code === 'unrecognized_keys' || i.code === 'invalid_type',
          ),
        ).toEqual([]);
      }
    },
  );
});
