import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type Page, type Response } from '@playwright/test';
import { ROLE_ABILITIES } from '../shared/permissions.ts';
import { accessTo, areaOf, pageTitle, ROUTES, type Route, type Viewer } from '../web/src/routes.ts';
import { WALK } from './fixtures.ts';

// Every page of /app and /ops, as each kind of user, taken from the SPA's own route table (web/src/routes.ts), so a
// new page is walked as soon as it exists. A page fails the walk on any console error, any HTTP answer >= 400 (or
// tRPC error inside a batch), any error state, a page still loading, or, for a page the role may not use, anything
// but the page saying so. A scripted path through the app misses the broken page next to it; this does not.

const PASSWORD = 'keel-demo-password';

interface Walker {
  role: string;
  email: string;
  viewer: Viewer;
}

const acme = (role: 'owner' | 'admin' | 'member') => ({
  user: { staff: false },
  organization: { name: 'Acme', role },
  abilities: ROLE_ABILITIES[role],
});

const WALKERS: Walker[] = [
  { role: 'owner', email: 'owner@acme.test', viewer: acme('owner') },
  { role: 'admin', email: WALK.admin.email, viewer: acme('admin') },
  { role: 'member', email: 'member@acme.test', viewer: acme('member') },
  {
    role: 'staff operator',
    email: 'ops@keel.test',
    viewer: { user: { staff: true }, organization: null, abilities: [] },
  },
];

/**
 * Screenshots: every page of every walk goes to test-results; with KEEL_SCREENSHOTS set (scripts/screenshots.ts),
 * the tenant pages as the owner and the console pages as the operator also go there, as the docs' pictures.
 */
const RESULTS = path.resolve('test-results/route-walk');
const DOCS = process.env.KEEL_SCREENSHOTS ? path.resolve(process.env.KEEL_SCREENSHOTS) : null;
/** `ops-overview.png`, `app-api-tokens.png`: the area and the page's title, as the README links them. */
const docsName = (route: Route) => `${areaOf(route)}-${route.title.toLowerCase().replace(/\W+/g, '-')}.png`;
const showcase = (walker: Walker, route: Route) =>
  areaOf(route) === 'app' ? walker.role === 'owner' : walker.role === 'staff operator';

interface TrpcError {
  message?: string;
  data?: { httpStatus?: number; appCode?: string };
}

const proceduresOf = (url: URL) => decodeURIComponent(url.pathname.replace(/^\/trpc\//, '')).split(',');

/** tRPC answers of one /trpc response (a batch answers several), paired with their procedures. */
async function trpcErrors(response: Response): Promise<{ procedure: string; error: TrpcError }[]> {
  const procedures = proceduresOf(new URL(response.url()));
  const body: unknown = await response.json().catch(() => null);
  const answers = Array.isArray(body) ? body : [body];
  return answers.flatMap((answer: unknown, i) => {
    if (typeof answer !== 'object' || answer === null || !('error' in answer)) return [];
    const wrapped = answer.error;
    const error: TrpcError =
      typeof wrapped === 'object' && wrapped !== null && 'json' in wrapped
        ? (wrapped.json as TrpcError)
        : (wrapped as TrpcError);
    return [{ procedure: procedures[i] ?? procedures[0] ?? '?', error }];
  });
}

/** Collects what went wrong in a page while it loads. */
function watch(page: Page) {
  const problems: string[] = [];
  const pending: Promise<void>[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/trpc/')) {
      pending.push(
        trpcErrors(response).then((errors) => {
          for (const { procedure, error } of errors) {
            const data = error.data;
            problems.push(
              `${procedure}: ${data?.httpStatus ?? '?'} ${data?.appCode ?? ''} ${error.message ?? ''}`,
            );
          }
        }),
      );
    } else if (response.status() >= 400) {
      problems.push(`HTTP ${response.status()} ${url.pathname}`);
    }
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium also reports every answer >= 400 here. A tRPC answer is reported above, from its body, with the
    // procedure and the error (a batch answers several); any other failed load is reported here.
    const at = msg.location().url;
    if (msg.text().startsWith('Failed to load resource') && at && new URL(at).pathname.startsWith('/trpc/'))
      return;
    problems.push(`console: ${msg.text()} (${at})`);
  });
  return {
    async take(): Promise<string[]> {
      await Promise.all(pending.splice(0));
      return problems.splice(0);
    },
  };
}

async function signIn(page: Page, email: string) {
  await page.goto('/sign-in?next=%2Fapp');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).not.toHaveURL(/\/sign-in/);
}

const parentOf = (route: Route) => route.path.replace(/\/:[^/]+$/, '');
const pattern = (route: Route) =>
  new RegExp(`^${route.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`);
/** A page with parameters the role may not open is refused before it loads anything, whatever the id. */
const PLACEHOLDER_ID = '00000000-0000-4000-8000-000000000000';

/** Links on the current page to pages with parameters whose list this is: `/app/documents` → a document. */
async function linksFor(page: Page): Promise<Map<string, string>> {
  const here = new URL(page.url()).pathname;
  const hrefs = await page
    .locator('main a[href]')
    .evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
  const found = new Map<string, string>();
  for (const route of ROUTES.filter((r) => r.path.includes('/:') && parentOf(r) === here)) {
    const href = hrefs.find((h) => pattern(route).test(new URL(h, 'http://x').pathname));
    if (href) found.set(route.id, href);
  }
  return found;
}

for (const walker of WALKERS) {
  test(`every page of /app and /ops as the ${walker.role}`, async ({ page }) => {
    test.setTimeout(240_000);
    mkdirSync(RESULTS, { recursive: true });
    if (DOCS) mkdirSync(DOCS, { recursive: true });
    await signIn(page, walker.email);
    const seen = watch(page);
    await seen.take(); // the sign-in page is not walked
    const failures: string[] = [];
    const links = new Map<string, string>();

    for (const route of ROUTES) {
      const access = accessTo(route.needs, walker.viewer);
      let address: string = route.path;
      if (route.path.includes('/:')) {
        const link = links.get(route.id);
        if (access.ok && !link) {
          failures.push(`${route.path}: no link to one on ${parentOf(route)} (no content to open)`);
          continue;
        }
        address = link ?? route.path.replace(/:[^/]+/g, PLACEHOLDER_ID);
      }
      await test.step(`${address}`, async () => {
        await page.goto(address);
        await page.waitForLoadState('networkidle');
        const main = page.locator('main');
        const problems: string[] = [];
        try {
          await expect(page.locator('.state-loading')).toHaveCount(0);
          await expect(main).not.toBeEmpty();
        } catch {
          problems.push('still loading or empty');
        }
        const title = pageTitle(route);
        if (access.ok && (await page.title()) !== title)
          problems.push(`title "${await page.title()}", not "${title}"`);
        if (!access.ok) {
          const refusal =
            access.reason === 'staff'
              ? page.getByRole('heading', { name: 'Staff only' })
              : page.getByTestId('not-available');
          if (!(await refusal.isVisible()))
            problems.push(`expected the "not available" page (${access.reason})`);
        }
        const errorStates = await page.locator('.state-error, .form-error, .field-error').allInnerTexts();
        problems.push(...errorStates.map((t) => `error state: ${t.replace(/\s+/g, ' ').trim()}`));
        if (await page.getByRole('heading', { name: /not found|no console page/i }).isVisible()) {
          problems.push('a "not found" page');
        }
        problems.push(...(await seen.take()));
        const file = `${walker.role.replace(/\W+/g, '-')}-${route.id.replace('.', '-')}.png`;
        await page.screenshot({ path: path.join(RESULTS, file), fullPage: true });
        if (DOCS && showcase(walker, route)) {
          await page.screenshot({
            path: path.join(DOCS, docsName(route)),
            fullPage: true,
          });
        }
        if (access.ok) for (const [id, href] of await linksFor(page)) links.set(id, href);
        failures.push(...problems.map((p) => `${address}: ${p}`));
      });
    }
    expect(failures, `pages that failed for the ${walker.role}`).toEqual([]);
  });
}
