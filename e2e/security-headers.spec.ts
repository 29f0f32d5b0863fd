import { expect, test, type Page } from '@playwright/test';
import { routesOf, type Area } from '../web/src/routes.ts';

// Issue 17 finding 14: the SPA runs under its Content-Security-Policy. Every page of the tenant app and the
// console is opened as a user who may see it; a blocked script, style, image or connection (the WebSocket
// included) fires `securitypolicyviolation` and logs a console error, and either fails this spec. One violation is
// expected and allowed: zod probes whether it may compile validators with `Function('')` inside a try/catch and,
// refused (no 'unsafe-eval', on purpose), validates without compiling; nothing is logged and nothing breaks.

test.setTimeout(120_000);

const PASSWORD = 'keel-demo-password';

/** The pages of an area that take no parameter, in the route table's order (web/src/routes.ts). */
const pagesOf = (area: Area) => routesOf(area).flatMap((r) => (r.path.includes('/:') ? [] : [r.path]));
const TENANT_PAGES = pagesOf('app');
const OPS_PAGES = pagesOf('ops');
const PUBLIC_PAGES = ['/sign-in', '/register', '/forgot-password', '/reset-password?token=not-a-real-token'];

/** Records every CSP violation and every console error of the page. */
async function watch(page: Page) {
  const problems: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      if (e.blockedURI === 'eval' && e.violatedDirective === 'script-src') return; // zod's probe, see above
      // Runs in the page: the console is how the violation reaches the test.
      // eslint-disable-next-line no-console
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|CSP violation|Refused to/i.test(m.text()))
      problems.push(m.text());
  });
  return problems;
}

async function signIn(page: Page, email: string) {
  await page.goto('/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/(app|ops)/);
}

async function visit(page: Page, paths: string[]) {
  for (const path of paths) {
    const res = await page.goto(path);
    expect(res?.headers()['content-security-policy'], path).toContain("frame-ancestors 'none'");
    expect(res?.headers()['referrer-policy'], path).toBe('no-referrer');
    // Every page, loaded, has its heading (the console's live pages never go network-idle).
    await expect(page.getByRole('heading', { level: 1 }).first(), path).toBeVisible({ timeout: 20_000 });
  }
}

test('public pages load under the policy, with no violation', async ({ page }) => {
  const problems = await watch(page);
  await visit(page, PUBLIC_PAGES);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  expect(problems).toEqual([]);
});

test('every tenant page, live WebSocket included, loads with no violation', async ({ page }) => {
  const problems = await watch(page);
  await signIn(page, 'owner@acme.test');
  await visit(page, TENANT_PAGES);
  // The live connection (documents, presence, progress) is allowed by connect-src 'self'.
  await page.goto('/app');
  await expect(page.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  expect(problems).toEqual([]);
});

test('every console page, charts included, loads with no violation', async ({ page }) => {
  const problems = await watch(page);
  await signIn(page, 'ops@keel.test');
  await visit(page, OPS_PAGES);
  expect(problems).toEqual([]);
});
