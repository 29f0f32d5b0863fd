import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { buildApp } from '../server/app.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { DEMO_PASSWORD, seedDemoLogins } from '../server/modules/demo/demo.seed.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { LIFTED_LIMITS } from '../server/test/harness.ts';
import { freePort } from '../server/test/own-redis.ts';
import { buildWeb, FIRST_PAGE, firstLoad, wholeSpa } from '../scripts/web-bundle.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { median, printFigures } from './lib.ts';

// The SPA's weight and speed: first-load JavaScript (gzip) of /app and /ops against the whole SPA's JavaScript (what
// one bundle sent to everybody before the split), and time to interactive of /app in Chromium (a fresh browser
// context per visit: cold cache, signed in) against loading a static file in a fresh context the same way.

const ROUNDS = 9;

export async function run(): Promise<void> {
  const outDir = mkdtempSync(path.join(tmpdir(), 'keel-web-bench-'));
  const { env, cleanup } = await createBenchEnvironment('web');
  let browser: Browser | undefined;
  let close: (() => Promise<void>) | undefined;
  try {
    await buildWeb(outDir);
    const app = firstLoad(outDir, FIRST_PAGE.app);
    const ops = firstLoad(outDir, FIRST_PAGE.ops);
    const all = wholeSpa(outDir);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const config = parseConfig({
      ...env,
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: String(port),
      APP_URL: base,
      WEB_DIST: outDir,
    });
    const deps = await createDeps(config, {
      rateLimitPolicies: LIFTED_LIMITS,
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    await seedDemoLogins(deps.em);
    const server = await buildApp(deps);
    await server.listen({ port, host: '127.0.0.1' });
    close = async () => {
      await server.close();
      await deps.close();
    };

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
    });
    const signedIn = await browser.newContext();
    const page = await signedIn.newPage();
    await page.goto(`${base}/sign-in?next=%2Fapp`);
    await page.getByLabel('Email').fill('owner@acme.test');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Acme' }).waitFor();
    const storageState = await signedIn.storageState();
    await signedIn.close();

    // Measured by the page's own clock (milliseconds since its navigation started), so the cost of opening a
    // browser context is left out of both figures.
    const visit = async (measure: (page: Page) => Promise<void>) => {
      const ctx = await browser!.newContext({ storageState });
      try {
        const p = await ctx.newPage();
        await measure(p);
        return await p.evaluate(() => performance.now());
      } finally {
        await ctx.close();
      }
    };
    const tti: number[] = [];
    const baseline: number[] = [];
    // Alternated rounds, so drift in the machine's load touches both alike; the first of each warms Chromium up.
    for (let i = 0; i <= ROUNDS; i++) {
      const b = await visit(async (p) => {
        await p.goto(`${base}/favicon.svg`);
      });
      // Interactive: the dashboard's heading, figures and member list are rendered and nothing is loading.
      const t = await visit(async (p) => {
        await p.goto(`${base}/app`);
        await p.getByRole('heading', { level: 1, name: 'Acme' }).waitFor();
        await p.getByText('Monthly revenue').waitFor();
        await p.locator('.state-loading').first().waitFor({ state: 'detached' });
      });
      if (i > 0) {
        baseline.push(b);
        tti.push(t);
      }
    }

    printFigures('web', [
      {
        name: 'app_first_load_js_gzip',
        value: app.gzipBytes / 1000,
        unit: 'kB',
        baseline: all.gzipBytes / 1000,
        goal: 'lower, at most 150 kB',
      },
      {
        name: 'ops_first_load_js_gzip',
        value: ops.gzipBytes / 1000,
        unit: 'kB',
        baseline: all.gzipBytes / 1000,
        goal: 'lower',
      },
      {
        name: 'app_time_to_interactive',
        value: median(tti),
        unit: 'ms',
        baseline: median(baseline),
        goal: 'lower',
      },
    ]);
    process.stdout.write(
      `# /app loads ${app.files.length} chunks, /ops ${ops.files.length}, all JS ${all.files.length}; TTI rounds ${tti.map((x) => x.toFixed(0)).join(' ')} ms\n`,
    );
  } finally {
    await browser?.close();
    await close?.();
    await cleanup();
    rmSync(outDir, { recursive: true, force: true });
  }
}
