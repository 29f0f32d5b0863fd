// `npm test`: every check Keel has, in order, continuing past a failure so one run shows everything that is wrong.
// Typecheck, lint and format count as one check each; vitest (unit + integration) and Playwright write JSON reports
// that scripts/test-summary.mjs turns into the final "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';

const reports = '.keel/reports';
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const steps = [
  ['typecheck', 'tsc --noEmit -p tsconfig.json'],
  ['lint', 'eslint --max-warnings=0 .'],
  ['format', 'prettier --check .'],
  ['vitest', `vitest run --reporter=default --reporter=json --outputFile.json=${reports}/vitest.json`],
  ['build-web', 'vite build'],
  [
    'e2e',
    'playwright test --reporter=list,json',
    { PLAYWRIGHT_JSON_OUTPUT_FILE: `${reports}/playwright.json` },
  ],
];

let failedSteps = 0;
for (const [name, command, extraEnv] of steps) {
  process.stdout.write(`\n── ${name}: ${command}\n`);
  const started = Date.now();
  const result = spawnSync(command, { stdio: 'inherit', shell: true, env: { ...process.env, ...extraEnv } });
  const ok = result.status === 0;
  if (!ok) failedSteps += 1;
  process.stdout.write(
    `── ${name} ${ok ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  if (['typecheck', 'lint', 'format', 'build-web'].includes(name)) {
    writeFileSync(`${reports}/step-${name}.json`, JSON.stringify({ name, ok }));
  }
}

spawnSync('node', ['scripts/test-summary.mjs', reports], { stdio: 'inherit' });
process.exit(failedSteps ? 1 : 0);
