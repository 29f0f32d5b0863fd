// Reads the JSON reports vitest and Playwright wrote during `npm test` and prints one "N passed, N failed" line,
// preceded by the name and first message line of each failure: CI logs are often read from their tail only.
// Steps that fail before any test runs (typecheck, lint, format) count as one failure each, recorded by
// scripts/test.mjs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] ?? '.keel/reports';
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

const firstLine = (text) =>
  String(text ?? '')
    // eslint-disable-next-line no-control-regex -- ANSI colour codes in reporter messages
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .find((line) => line.trim() !== '')
    ?.trim()
    .slice(0, 300) ?? '';

function playwrightSpecs(suite, trail) {
  const here = suite.title ? [...trail, suite.title] : trail;
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests ?? []) {
      if (test.status === 'unexpected' || test.status === 'flaky') {
        const result = (test.results ?? []).find((r) => r.status !== 'passed');
        failures.push(
          `${test.status === 'flaky' ? 'FLAKY' : 'FAIL'}  ${[...here, spec.title].join(' › ')} — ${firstLine(result?.error?.message)}`,
        );
      }
    }
  }
  for (const child of suite.suites ?? []) playwrightSpecs(child, here);
}

if (existsSync(dir)) {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    if (file.startsWith('vitest')) {
      passed += report.numPassedTests ?? 0;
      failed += report.numFailedTests ?? 0;
      skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
      for (const suite of report.testResults ?? []) {
        const where = path.relative(process.cwd(), suite.name ?? '');
        const tests = suite.assertionResults ?? [];
        // A file that failed to load, or whose beforeAll/afterAll failed, is a failure even when none of its tests
        // is (they did not run, or passed).
        if (suite.status === 'failed' && !tests.some((t) => t.status === 'failed')) {
          failed += 1;
          failures.push(`FAIL  ${where} (file-level error) — ${firstLine(suite.message)}`);
        }
        for (const test of tests.filter((t) => t.status === 'failed')) {
          failures.push(`FAIL  ${where} › ${test.fullName} — ${firstLine(test.failureMessages?.[0])}`);
        }
      }
    } else if (file.startsWith('playwright')) {
      passed += report.stats?.expected ?? 0;
      failed += (report.stats?.unexpected ?? 0) + (report.stats?.flaky ?? 0);
      skipped += report.stats?.skipped ?? 0;
      for (const suite of report.suites ?? []) playwrightSpecs(suite, []);
    } else if (file.startsWith('step-')) {
      if (report.ok) passed += 1;
      else {
        failed += 1;
        failures.push(`FAIL  ${report.name} step`);
      }
    }
  }
}
for (const line of failures) process.stdout.write(`${line}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
