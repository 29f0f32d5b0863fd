// `npx tsx scripts/screenshots.ts`: regenerates docs/screenshots/ from the seeded end-to-end server. It builds the SPA
// and runs the route walk (e2e/route-walk.spec.ts) with KEEL_SCREENSHOTS set, which saves every tenant page as the
// owner and every console page as the operator (`app-documents.png`, `ops-overview.png`, …). Old pictures are removed
// first, so a page that no longer exists leaves none behind. E2E_PORT moves the server as for any browser test.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(repo, 'docs/screenshots');

for (const f of readdirSync(dir).filter((n) => n.endsWith('.png'))) rmSync(path.join(dir, f));

const run = (command: string, env: Record<string, string> = {}) => {
  const r = spawnSync(command, { cwd: repo, stdio: 'inherit', shell: true, env: { ...process.env, ...env } });
  if (r.status !== 0) {
    process.stderr.write(`screenshots: "${command}" failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
};

run('npx vite build');
run('npx playwright test e2e/route-walk.spec.ts', { KEEL_SCREENSHOTS: dir });
process.stdout.write(
  `screenshots: ${readdirSync(dir).filter((n) => n.endsWith('.png')).length} pictures in ${dir}\n`,
);
