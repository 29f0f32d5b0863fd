import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The import rules of docs/ARCHITECTURE.md ("Rules that hold everywhere"), checked on the source: every relative
// import and re-export of every non-test file, resolved to the file it names.

const ROOT = path.resolve(import.meta.dirname, '..');

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Test code (tests, their fixtures and helpers) may reach anywhere: it builds whole apps. */
const isTestCode = (file: string) => /\.test\.tsx?$|\/(fixtures|testing|test)\//.test(file);

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f))
    .filter((f) => !isTestCode(f));
}

// `import … from '…'`, `export … from '…'` (across lines), `import '…'` and `import('…')`.
const STATIC = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s+['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** `{ type A, type B }` imports only types, as `import type` does. */
function onlyTypes(clause: string): boolean {
  const braces = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (!braces?.[1]) return false;
  const names = braces[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((n) => n.startsWith('type '));
}

function edgesOf(file: string): Edge[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const found: { spec: string; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(STATIC)) {
    found.push({ spec: m[4]!, typeOnly: Boolean(m[2]) || onlyTypes(m[3] ?? '') });
  }
  for (const m of text.matchAll(BARE)) found.push({ spec: m[1]!, typeOnly: false });
  for (const m of text.matchAll(DYNAMIC)) found.push({ spec: m[1]!, typeOnly: false });
  return found
    .filter((f) => f.spec.startsWith('.'))
    .map((f) => ({
      from: file,
      to: path.relative(ROOT, path.resolve(ROOT, path.dirname(file), f.spec)),
      typeOnly: f.typeOnly,
    }));
}

const edges = ['server', 'shared', 'web/src'].flatMap(sourceFiles).flatMap(edgesOf);
const under = (dir: string) => (file: string) => file.startsWith(`${dir}/`);
const describeEdge = (e: Edge) => `${e.from} → ${e.to}${e.typeOnly ? ' (types)' : ''}`;

describe('import rules (docs/ARCHITECTURE.md)', () => {
  it('reads the imports it checks (a router importing its procedures is seen)', () => {
    expect(edges.length).toBeGreaterThan(500);
    expect(edges.map(describeEdge)).toContain(
      'server/modules/documents/documents.router.ts → server/trpc/procedures.ts',
    );
    expect(edges.map(describeEdge)).toContain(
      'server/modules/realtime/live.ts → server/trpc/context.ts (types)',
    );
  });

  it('platform imports only platform, config and shared', () => {
    const allowed = ['server/platform', 'server/config', 'shared'].map(under);
    const bad = edges.filter((e) => under('server/platform')(e.from) && !allowed.some((ok) => ok(e.to)));
    expect(bad.map(describeEdge)).toEqual([]);
  });

  it("a module's services, entities and jobs import nothing but types from trpc/; only its routers use procedures", () => {
    const bad = edges.filter(
      (e) =>
        under('server/modules')(e.from) &&
        !e.from.endsWith('.router.ts') &&
        under('server/trpc')(e.to) &&
        !e.typeOnly,
    );
    expect(bad.map(describeEdge)).toEqual([]);
  });

  it('trpc/ core (init, context, middleware, procedures) never imports a router; trpc/router.ts assembles them', () => {
    const bad = edges.filter(
      (e) =>
        under('server/trpc')(e.from) && e.from !== 'server/trpc/router.ts' && e.to.endsWith('.router.ts'),
    );
    expect(bad.map(describeEdge)).toEqual([]);
  });

  it('shared/ and web/ import only types from server/', () => {
    const bad = edges.filter(
      (e) => (under('shared')(e.from) || under('web/src')(e.from)) && under('server')(e.to) && !e.typeOnly,
    );
    expect(bad.map(describeEdge)).toEqual([]);
  });
});
