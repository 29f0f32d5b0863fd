import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// One pattern per page (issue 19): every query's loading and error states come from the shared QueryView
// (web/src/ui/QueryView.tsx), and mutations refresh what they change by router path (web/src/invalidate.ts). A page
// that writes these by hand again is named here with the line it did it on.

const SRC = path.dirname(new URL(import.meta.url).pathname);
const UI = path.join(SRC, 'ui');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') ? [full] : [];
  });
}

const FILES = sources(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }));

/** Every line of a file outside `exceptIn` that matches, as `path:line: text`. */
function offenders(pattern: RegExp, exceptIn: string[] = []): string[] {
  return FILES.filter(({ file }) => !exceptIn.some((dir) => file.startsWith(dir))).flatMap(({ file, text }) =>
    text
      .split('\n')
      .flatMap((line, i) =>
        pattern.test(line) ? [`${path.relative(SRC, file)}:${i + 1}: ${line.trim()}`] : [],
      ),
  );
}

describe('one pattern per page', () => {
  it('scans the SPA (the walk found its pages)', () => {
    expect(FILES.map((f) => path.relative(SRC, f.file))).toEqual(
      expect.arrayContaining([
        'App.tsx',
        path.join('ui', 'QueryView.tsx'),
        path.join('ops', 'jobs', 'JobsPage.tsx'),
      ]),
    );
  });

  it('renders the error state only through QueryView', () => {
    expect(offenders(/<ErrorState\b/, [UI])).toEqual([]);
  });

  it('renders the loading state only through QueryView or as the fallback of a lazy chunk', () => {
    expect(offenders(/<Loading\b/, [UI]).filter((l) => !l.includes('fallback={<Loading'))).toEqual([]);
  });

  it('branches on no query state by hand', () => {
    expect(offenders(/if \(!?\w+\.(isPending|isLoading|isError)\) return\b/, [UI])).toEqual([]);
    expect(offenders(/\{\s*\w+\.(isPending|isLoading)\s*\?\s*\(?\s*$/, [UI])).toEqual([]);
  });

  it('invalidates by router path, not by a list of query keys', () => {
    const helper = path.join(SRC, 'invalidate.ts');
    expect(offenders(/invalidateQueries\(\{\s*queryKey\b/, [helper])).toEqual([]);
  });
});
