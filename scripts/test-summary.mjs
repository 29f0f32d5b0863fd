// Reads the JSON reports vitest and Playwright wrote during `npm test` and prints one "N passed, N failed" line.
// Steps that fail before any test runs (typecheck, lint, format) count as one failure each, recorded by
// scripts/step.mjs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] ?? '.keel/reports';
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(dir)) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    if (file.startsWith('vitest')) {
      passed += report.numPassedTests ?? 0;
      failed += report.numFailedTests ?? 0;
      skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
      // A file that failed to load has no tests but is a failure.
      for (const suite of report.testResults ?? []) {
        if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed += 1;
      }
    } else if (file.startsWith('playwright')) {
      passed += report.stats?.expected ?? 0;
      failed += (report.stats?.unexpected ?? 0) + (report.stats?.flaky ?? 0);
      skipped += report.stats?.skipped ?? 0;
    } else if (file.startsWith('step-')) {
      if (report.ok) passed += 1;
      else failed += 1;
    }
  }
}
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
