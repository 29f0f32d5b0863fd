import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb, FIRST_PAGE, firstLoad } from '../../scripts/web-bundle.ts';

// The tenant app must not download the console or the chart library: one 1.0 MB bundle (289 kB gzip) held both.
// This builds the SPA and reads the Vite manifest for what /app loads before it shows its dashboard.

const APP_BUDGET_GZIP = 150_000;
let outDir = '';

beforeAll(async () => {
  outDir = mkdtempSync(path.join(tmpdir(), 'keel-web-bundle-'));
  await buildWeb(outDir);
}, 180_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('first JavaScript for /app', () => {
  it(`is at most ${APP_BUDGET_GZIP / 1000} kB gzip`, () => {
    const app = firstLoad(outDir, FIRST_PAGE.app);
    expect(app.gzipBytes).toBeLessThanOrEqual(APP_BUDGET_GZIP);
  });

  it('holds neither the console nor recharts', () => {
    const app = firstLoad(outDir, FIRST_PAGE.app);
    const ops = firstLoad(outDir, FIRST_PAGE.ops);
    const consoleOnly = ops.files.filter((f) => !app.files.includes(f));
    // The console's own chunks exist and /app loads none of them.
    expect(consoleOnly.length).toBeGreaterThan(0);
    const code = app.files.map((f) => readFileSync(path.join(outDir, f), 'utf8')).join('\n');
    // Class names recharts writes into every chart: present in the console's chunks, absent from /app's.
    expect(code).not.toContain('recharts-wrapper');
    const consoleCode = consoleOnly.map((f) => readFileSync(path.join(outDir, f), 'utf8')).join('\n');
    expect(consoleCode).toContain('recharts-wrapper');
  });
});
