import { fileURLToPath } from 'node:url';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { ACME_PRICE, ARCHIVED_JOB, BATCH_NAME, FLAKY_JOB } from './ops-fixtures.ts';

// The operations console against the seeded server (e2e/serve.ts + e2e/ops-seed.ts): every page shows what the
// server holds, operator actions change what tenants see, and nobody but staff gets anything.

const PASSWORD = 'keel-demo-password';
const OPERATOR = 'ops@keel.test';
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

const screenshot = (page: Page, name: string) =>
  page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

async function signIn(page: Page, email: string, next = '/ops') {
  await page.goto(`/sign-in?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).not.toHaveURL(/\/sign-in/);
}

/** A second, separate browser session (its own cookies), signed in as a tenant user. */
async function tenantSession(browser: Browser, email: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, email, '/app');
  return { context, page };
}

type TrpcBody = { result?: { data: { json: unknown } }; error?: { json: { data: { appCode: string } } } };

async function query(page: Page, path: string, input?: unknown) {
  const search = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
  const response = await page.request.get(`/trpc/${path}${search}`);
  const body = (await response.json()) as TrpcBody;
  return { status: response.status(), data: body.result?.data.json, appCode: body.error?.json.data.appCode };
}

async function mutate(page: Page, path: string, input: unknown) {
  const response = await page.request.post(`/trpc/${path}`, { data: { json: input } });
  const body = (await response.json()) as TrpcBody;
  return { status: response.status(), appCode: body.error?.json.data.appCode };
}

test.describe.configure({ mode: 'serial' });

test('the overview charts the fleet, shows health and live process figures, and keeps the range in the URL', async ({
  page,
}) => {
  await signIn(page, OPERATOR);
  await expect(page.getByRole('heading', { level: 1, name: 'Operations' })).toBeVisible();
  const health = page.getByRole('list', { name: 'Health' });
  await expect(health.getByRole('listitem').filter({ hasText: 'PostgreSQL' })).toContainText('OK');
  await expect(health.getByRole('listitem').filter({ hasText: 'Redis' })).toContainText('OK');

  // Request metrics are flushed to Redis every few seconds: reload until this run's own traffic is charted.
  const requests = page.getByRole('figure', { name: 'Requests' });
  await expect(async () => {
    await page.reload();
    await expect(requests.getByTestId('latest')).toHaveText(/^[\d,.]*[1-9][\d,.]*\/min$/, { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByRole('figure', { name: 'Latency' }).getByTestId('latest')).toContainText('p95');
  await expect(page.getByRole('figure', { name: /Job throughput/ }).getByTestId('latest')).toContainText(
    'Failed',
  );

  // Live figures arrive over the WebSocket subscription, one sample per API process per second.
  const processes = page.getByRole('region', { name: 'API processes' });
  await expect(processes.getByRole('status')).toHaveText('Live');
  await expect(processes.getByRole('row')).toHaveCount(2);

  await page.getByLabel('Range').selectOption('6h');
  await expect(page).toHaveURL(/\/ops\?range=6h$/);
  await expect(requests.getByTestId('latest')).toHaveText(/\/min$/);
  await screenshot(page, 'ops-overview');
  await page.getByLabel('Range').selectOption('1h');
  await expect(page).toHaveURL(/\/ops$/);
});

test('queues show live counts and workers; pausing and continuing a queue takes effect', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/queues');
  await expect(page.getByRole('heading', { level: 1, name: 'Queues' })).toBeVisible();
  const queues = page.getByRole('region', { name: 'Queues', exact: true });
  for (const name of ['high', 'default', 'low', 'mail', 'webhooks']) {
    await expect(queues.getByRole('row', { name: new RegExp(`^${name} `) })).toBeVisible();
  }
  // The seeded worker works `default` only, with two slots.
  await expect(queues.getByRole('row', { name: /^default / })).toContainText('/ 2');
  // Two workers: the seeded one (`default`) and the e2e server's own for the billing sandbox's webhooks and mail.
  const workers = page.getByRole('region', { name: 'Workers' });
  await expect(workers.getByRole('row')).toHaveCount(3);
  await expect(workers).toContainText('default');
  await expect(workers).toContainText('webhooks');
  await expect(page.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();

  await queues.getByRole('button', { name: 'Pause low' }).click();
  await expect(queues.getByRole('row', { name: /^low / })).toContainText('Paused');
  await screenshot(page, 'ops-queues');
  await queues.getByRole('button', { name: 'Continue low' }).click();
  await expect(queues.getByRole('row', { name: /^low / })).toContainText('Running');
});

test('the failed list pages through ten thousand failures with its filters in the URL', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/jobs?list=failed');
  const failed = page.getByRole('region', { name: 'Failed jobs' });
  await expect(failed.getByText(/^1–25 of 10,0\d\d$/)).toBeVisible();
  await failed.getByRole('button', { name: 'Next' }).click();
  await expect(page).toHaveURL(/list=failed&page=2$/);
  await expect(failed.getByText(/^26–50 of 10,0\d\d$/)).toBeVisible();

  await failed.getByLabel('Queue').selectOption('low');
  await expect(page).toHaveURL(/list=failed&queue=low$/);
  await expect(failed.getByText(/^1–25 of 10,000$/)).toBeVisible();
  await expect(failed.getByRole('row', { name: new RegExp(ARCHIVED_JOB) }).first()).toContainText('exceeded');

  await failed.getByLabel('Organization id').fill('acme');
  await failed.getByRole('button', { name: 'Filter' }).click();
  await expect(failed.getByText('Organization id must be an organization id')).toBeVisible();
  await failed.getByLabel('Organization id').fill('');
  await failed.getByLabel('Error text').fill('no such error anywhere');
  await failed.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/q=no\+such\+error\+anywhere/);
  await expect(failed.getByText('No failed job matches these filters')).toBeVisible();
  await failed.getByRole('button', { name: 'Clear' }).click();
  await expect(page).toHaveURL(/\/ops\/jobs\?list=failed$/);
});

test('retrying a failed job from the Jobs page makes it succeed, and the lists follow on their own', async ({
  page,
}) => {
  await signIn(page, OPERATOR, `/ops/jobs?list=failed&q=${encodeURIComponent('syncing invoice 100')}`);
  const failed = page.getByRole('region', { name: 'Failed jobs' });
  const rows = failed.getByRole('row', { name: new RegExp(FLAKY_JOB) });
  await expect(rows).toHaveCount(3);
  await screenshot(page, 'ops-jobs-failed');

  const first = rows.first();
  const label = (await first.getAttribute('aria-label'))!;
  const id = label.split(' ').pop()!;
  await first.getByRole('button', { name: /^Retry / }).click();
  // The retried job leaves the failed list (without a reload) and completes on the worker.
  await expect(rows).toHaveCount(2);
  await page.getByRole('link', { name: 'Completed' }).click();
  const completed = page.getByRole('region', { name: 'Completed jobs' });
  const done = completed.getByRole('row').filter({ has: page.getByRole('link', { name: FLAKY_JOB }) });
  await expect(done.filter({ hasText: id.slice(0, 8) })).toContainText('completed');

  await page.goto(`/ops/jobs/${id}`);
  await expect(page.getByRole('status', { name: 'Status: completed' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Payload' })).toContainText('"invoice": 100');
  await expect(page.getByRole('region', { name: 'Timings' })).toContainText('Ran for');
  await screenshot(page, 'ops-job');

  // Retry selected: the other two at once.
  await page.goto(`/ops/jobs?list=failed&q=${encodeURIComponent('syncing invoice 100')}`);
  await expect(rows).toHaveCount(2);
  await failed.getByLabel('Select every job on this page').check();
  await failed.getByRole('button', { name: 'Retry selected (2)' }).click();
  await expect(failed.getByText('No failed job matches these filters')).toBeVisible();
  await page.getByRole('link', { name: 'Recent' }).click();
  const recent = page.getByRole('region', { name: 'Recent jobs' });
  await recent.getByLabel('Tag').fill('invoice:1003');
  await recent.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/tag=invoice%3A1003/);
  // The unfiltered rows stay on screen (marked busy) until the filtered page arrives: one job has that tag.
  const tagged = recent.getByRole('row', { name: new RegExp(FLAKY_JOB) });
  await expect(tagged).toHaveCount(1);
  await expect(tagged).toContainText('completed');
});

test('a batch shows its failures, and retrying them finishes it', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/batches');
  const row = page.getByRole('row', { name: new RegExp(BATCH_NAME) });
  await expect(row).toContainText('Finished with failures');
  await expect(row).toContainText('0 of 4 succeeded');
  await screenshot(page, 'ops-batches');
  await row.getByRole('button', { name: /Retry failed jobs/ }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Queued 4 failed jobs again' })).toBeVisible();
  await expect(row.getByRole('button', { name: /Retry failed jobs/ })).toBeDisabled();
  await expect(row).toContainText('4 of 4 succeeded');
  await expect(row.getByText('Finished', { exact: true })).toBeVisible();
});

test('job search finds jobs by type and tag, and a bulk delete states its count before it acts', async ({
  page,
}) => {
  await signIn(page, OPERATOR, `/ops/jobs?list=search&type=${FLAKY_JOB}`);
  const search = page.getByRole('region', { name: 'Search jobs' });
  const rows = search.getByRole('row').filter({ has: page.getByRole('link', { name: FLAKY_JOB }) });
  // Three invoices and a batch of four, in whatever state the tests before left them.
  await expect(rows).toHaveCount(7);
  await search.getByLabel('Tag').fill('invoice:1001');
  await search.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/tag=invoice%3A1001/);
  await expect(rows).toHaveCount(1);
  await screenshot(page, 'ops-jobs-search');

  await search.getByRole('button', { name: 'Delete all matching…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete 1 jobs?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Delete 1 jobs' }).click();
  await expect(search.getByRole('status').filter({ hasText: 'Delete: 1 of 1 jobs.' })).toBeVisible();
  await expect(search.getByText('No job matches this search')).toBeVisible();
  const audit = page.getByRole('region', { name: 'Job actions' });
  await expect(audit.getByRole('row').filter({ hasText: 'job.bulkDelete' })).toBeVisible();
});

test('flags: create, toggle (a tenant sees it within a second), roll out, override, kill with confirmation, audit', async ({
  page,
  browser,
}) => {
  test.setTimeout(60_000);
  const key = `e2e.new-editor-${Date.now().toString(36)}`;
  const tenant = await tenantSession(browser, 'owner@acme.test');
  const tenantValue = async () =>
    ((await query(tenant.page, 'flags.evaluateAll')).data as Record<string, { value: unknown }>)[key]?.value;

  await signIn(page, OPERATOR, '/ops/flags');
  await page.getByRole('button', { name: 'New flag' }).click();
  await expect(page).toHaveURL(/\/ops\/flags\?new=1$/);
  await page.getByRole('button', { name: 'Create flag' }).click();
  await expect(page.getByText('Key must be 2-100 lowercase letters')).toBeVisible();
  await page.getByLabel('Key').fill(key);
  await page.getByLabel('Description').fill('The new document editor');
  await page.getByLabel('Owner').fill('Editor team');
  await page.getByRole('button', { name: 'Create flag' }).click();
  await expect(page).toHaveURL(new RegExp(`/ops/flags/${key.replace('.', '\\.')}$`));
  expect(await tenantValue()).toBe(false);

  await page.getByRole('link', { name: '← Feature flags' }).click();
  const toggle = page.getByRole('switch', { name: key });
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await expect(toggle).toBeEnabled();
  // The change has been acknowledged by every process's cache; the tenant's next evaluation must see it.
  await expect.poll(tenantValue, { timeout: 1_000, intervals: [50] }).toBe(true);
  await screenshot(page, 'ops-flags');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await expect.poll(tenantValue, { timeout: 1_000, intervals: [50] }).toBe(false);

  await page.getByRole('region', { name: 'Flags', exact: true }).getByRole('link', { name: key }).click();
  await page.getByLabel('Rollout (%)').fill('25');
  await page.getByRole('button', { name: 'Save rollout' }).click();
  await expect(page.getByText('Now 25 % of organizations')).toBeVisible();

  await page.getByLabel('Find an organization').fill('acme');
  await page
    .getByRole('list', { name: 'Matching organizations' })
    .getByRole('button', { name: /Acme/ })
    .click();
  await page.getByLabel('Variant for this organization').selectOption('on');
  await page.getByRole('button', { name: 'Save override' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'because of override' })).toContainText('Gets on');
  await expect.poll(tenantValue, { timeout: 1_000, intervals: [50] }).toBe(true);

  await page.getByRole('button', { name: 'Kill switch…' }).click();
  const dialog = page.getByRole('dialog', { name: `Kill ${key}?` });
  await expect(dialog.getByRole('button', { name: 'Kill the flag' })).toBeDisabled();
  await dialog.getByLabel(`Type ${key} to confirm`).fill(key);
  await dialog.getByRole('button', { name: 'Kill the flag' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Kill switch on' })).toBeVisible();
  await expect.poll(tenantValue, { timeout: 1_000, intervals: [50] }).toBe(false);

  const audit = page.getByRole('region', { name: 'Audit log' });
  await expect(audit.getByRole('row').nth(1)).toContainText('pulled the kill switch');
  await expect(audit).toContainText('set an organization override for Acme');
  await expect(audit).toContainText('rolloutPercentage: 0 → 25');
  await expect(audit).toContainText('created the flag');
  await screenshot(page, 'ops-flag');
  await page.getByRole('button', { name: 'Release the kill switch' }).click();
  await expect(
    page
      .getByRole('status', { name: 'State: Off' })
      .or(page.getByRole('status', { name: 'State: Rolling out' })),
  ).toBeVisible();
  await tenant.context.close();
});

test('tenants: search and details; suspending one blocks its next request until it is reactivated', async ({
  page,
  browser,
}) => {
  test.setTimeout(60_000);
  const globex = await tenantSession(browser, 'owner@globex.test');
  await expect(globex.page.getByRole('heading', { level: 1, name: 'Globex' })).toBeVisible();

  await signIn(page, OPERATOR, '/ops/tenants');
  const tenants = page.getByRole('region', { name: 'Tenants', exact: true });
  await page.getByLabel('Search tenants').fill('acme');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/\/ops\/tenants\?q=acme$/);
  await expect(tenants.getByRole('row')).toHaveCount(2);
  await page.getByLabel('Tier').selectOption('enterprise');
  await expect(page).toHaveURL(/q=acme&tier=enterprise$/);
  await expect(tenants.getByText('No tenant matches these filters')).toBeVisible();
  await tenants.getByRole('button', { name: 'Clear' }).click();
  await expect(tenants.getByRole('row', { name: /Globex/ })).toContainText('enterprise');
  await screenshot(page, 'ops-tenants');

  await tenants.getByRole('link', { name: 'Acme' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Acme' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Subscription' })).toContainText(ACME_PRICE);
  await expect(
    page.getByRole('region', { name: 'Members' }).getByRole('row', { name: /Olivia Owner/ }),
  ).toContainText('owner');
  await expect(page.getByLabel('Usage')).toContainText('Members');

  await page.getByRole('link', { name: '← Tenants' }).click();
  await tenants.getByRole('link', { name: 'Globex' }).click();
  await expect(page.getByRole('status', { name: 'Status: active' })).toBeVisible();
  await page.getByRole('button', { name: 'Suspend tenant…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Suspend Globex?' });
  await dialog.getByLabel('Type globex to confirm').fill('globex');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await expect(dialog.getByText('Reason is required')).toBeVisible();
  await dialog.getByLabel(/Reason/).fill('Chargeback under review');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await expect(page.getByRole('status', { name: 'Status: suspended' })).toBeVisible();
  const actions = page.getByRole('region', { name: 'Operator actions on this tenant' });
  await expect(actions.getByRole('row').nth(1)).toContainText('tenant.suspend');
  await expect(actions.getByRole('row').nth(1)).toContainText('Chargeback under review');
  await expect(actions.getByRole('row').nth(1)).toContainText(OPERATOR);
  await screenshot(page, 'ops-tenant');

  try {
    // Globex's owner, in another browser: the next request is refused, by the API and in the app.
    const refused = await query(globex.page, 'organization.current');
    expect(refused).toMatchObject({ status: 403, appCode: 'TENANT_SUSPENDED' });
    await globex.page.reload();
    await expect(globex.page.getByText('This organization is suspended').first()).toBeVisible();
  } finally {
    await page.getByRole('button', { name: 'Reactivate tenant…' }).click();
    await page
      .getByRole('dialog', { name: 'Reactivate Globex?' })
      .getByRole('button', { name: 'Reactivate' })
      .click();
    await expect(page.getByRole('status', { name: 'Status: active' })).toBeVisible();
  }
  expect((await query(globex.page, 'organization.current')).status).toBe(200);
  await globex.page.reload();
  await expect(globex.page.getByRole('heading', { level: 1, name: 'Globex' })).toBeVisible();
  await expect(actions.getByRole('row').nth(1)).toContainText('tenant.reactivate');
  await globex.context.close();
});

test('billing shows the webhook log with filters and replay, and subscriptions by status', async ({
  page,
}) => {
  await signIn(page, OPERATOR, '/ops/billing');
  const log = page.getByRole('region', { name: 'Stripe webhook log' });
  // The 30 seeded events, and those of the billing sandbox spec when it ran first.
  await expect(log.getByText(/^1–25 of (3\d|[4-9]\d|\d{3,})$/)).toBeVisible();
  await log.getByLabel('State').selectOption('failed');
  await expect(page).toHaveURL(/\/ops\/billing\?state=failed$/);
  await expect(log.getByText('1–6 of 6')).toBeVisible();
  await expect(log.getByRole('row', { name: /evt_e2e_0000/ })).toContainText('Stripe API unreachable');
  await log.getByRole('button', { name: 'Replay evt_e2e_0000' }).click();
  await expect(log.getByRole('status')).toContainText('evt_e2e_0000');

  const subscriptions = page.getByRole('region', { name: 'Subscriptions' });
  await expect(subscriptions.getByRole('row', { name: /Acme/ })).toContainText(ACME_PRICE);
  await subscriptions.getByLabel('Subscription status').selectOption('past_due');
  await expect(page).toHaveURL(/sub=past_due/);
  await expect(subscriptions.getByText('No subscription is past due')).toBeVisible();
  await subscriptions.getByLabel('Subscription status').selectOption('active');
  await expect(subscriptions.getByRole('row', { name: /Acme/ })).toBeVisible();
  await screenshot(page, 'ops-billing');
});

test('alerts list every rule with its state, and the history', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/alerts');
  const rules = page.getByRole('region', { name: 'Rules and states' });
  await expect(rules.getByRole('row', { name: 'HTTP 5xx rate (%)' })).toContainText('http.error_rate');
  await expect(rules.getByRole('row', { name: 'Jobs waiting, all queues' })).toContainText('5,000 / 10,000');
  await expect(page.getByRole('region', { name: 'History' })).toBeVisible();
  await screenshot(page, 'ops-alerts');
});

test('performance shows who sends the most requests, slow requests, slow queries and exceptions', async ({
  page,
}) => {
  await signIn(page, OPERATOR, '/ops/performance');
  const top = page.getByRole('list', { name: 'Top organizations by requests' });
  await expect(async () => {
    await page.reload();
    await expect(top.getByRole('link', { name: 'Acme' })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(
    page.getByRole('list', { name: 'Top users by requests' }).getByText('Oscar Operator'),
  ).toBeVisible();
  for (const region of ['Slow requests', 'Slow queries', 'Exceptions']) {
    await expect(page.getByRole('region', { name: region, exact: true })).toBeVisible();
  }
  await page.getByLabel('Top lists over').selectOption('1');
  await expect(page).toHaveURL(/hours=1$/);
  await expect(top.getByRole('link', { name: 'Acme' })).toBeVisible();
  await screenshot(page, 'ops-performance');
});

test('the audit log lists what operators did, filtered by target', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/audit?target=organization');
  const log = page.getByRole('region', { name: 'Operator actions' });
  await expect(log.getByRole('row').filter({ hasText: 'tenant.suspend' })).toContainText(
    'Chargeback under review',
  );
  await expect(log.getByRole('row').filter({ hasText: 'tenant.reactivate' })).toBeVisible();
  await screenshot(page, 'ops-audit');
});

test('a page whose data cannot be loaded says so, and recovers when asked to try again', async ({ page }) => {
  await signIn(page, OPERATOR, '/ops/audit');
  await expect(page.getByRole('heading', { level: 1, name: 'Audit log' })).toBeVisible();
  // The network drops every call of the tenant list (after the client's own retries, the error shows).
  await page.route(/\/trpc\/[^?]*ops\.tenants\.list/, (route) => route.abort('failed'));
  await page.getByRole('link', { name: 'Tenants' }).click();
  const tenants = page.getByRole('region', { name: 'Tenants', exact: true });
  await expect(tenants.getByRole('status')).toContainText('Loading tenants');
  await expect(tenants.getByRole('alert')).toContainText('Cannot reach the server', { timeout: 15_000 });
  await page.unroute(/\/trpc\/[^?]*ops\.tenants\.list/);
  await tenants.getByRole('button', { name: 'Try again' }).click();
  await expect(tenants.getByRole('row', { name: /Acme/ })).toBeVisible();
});

test('a member is refused on every /ops page and every console procedure', async ({ page }) => {
  await signIn(page, 'member@acme.test', '/ops/tenants');
  for (const path of [
    '/ops',
    '/ops/queues',
    '/ops/jobs?list=failed',
    '/ops/jobs?list=search',
    '/ops/flags',
    '/ops/tenants',
    '/ops/billing',
  ]) {
    await page.goto(path);
    await expect(page.getByRole('heading', { name: 'Staff only' })).toBeVisible();
    await expect(page.getByRole('table')).toHaveCount(0);
  }

  const queries: [string, unknown][] = [
    ['ops.overview', undefined],
    ['ops.tenants.list', {}],
    ['ops.tenants.get', { id: '00000000-0000-4000-8000-000000000000' }],
    ['ops.audit.list', {}],
    ['ops.jobs.failed', {}],
    ['ops.jobs.search', {}],
    ['ops.queues.list', undefined],
    ['ops.flags.list', undefined],
    ['ops.billing.events.list', {}],
    ['ops.monitoring.series', { range: '1h' }],
    ['ops.alerts.statuses', undefined],
  ];
  for (const [path, input] of queries) {
    expect(await query(page, path, input), path).toMatchObject({ status: 403, appCode: 'STAFF_ONLY' });
  }
  const mutations: [string, unknown][] = [
    ['ops.tenants.suspend', { id: '00000000-0000-4000-8000-000000000000', reason: 'x' }],
    ['ops.jobs.retry', { id: 'x' }],
    ['ops.jobs.bulkPreview', { action: 'delete', filter: {} }],
    ['ops.jobs.bulk', { action: 'delete', filter: {}, confirm: '00000000-0000-4000-8000-000000000000' }],
    ['ops.queues.pause', { queue: 'default' }],
    ['ops.flags.kill', { key: 'anything', killed: true }],
    ['ops.billing.events.replay', { eventId: 'evt_e2e_0001' }],
  ];
  for (const [path, input] of mutations) {
    expect(await mutate(page, path, input), path).toMatchObject({ status: 403, appCode: 'STAFF_ONLY' });
  }

  // The live metrics subscription over the WebSocket is refused too.
  const refusal = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/trpc`);
        ws.onopen = () =>
          ws.send(
            JSON.stringify({
              id: 1,
              method: 'subscription',
              params: { path: 'ops.metrics', input: { json: {} } },
            }),
          );
        ws.onmessage = (m) => {
          const msg = JSON.parse(String(m.data)) as {
            id?: number;
            error?: { json?: { data?: { appCode?: string } } };
          };
          if (msg.id === 1 && msg.error) {
            resolve(msg.error.json?.data?.appCode ?? 'error');
            ws.close();
          }
        };
        setTimeout(() => resolve('no answer'), 5_000);
      }),
  );
  expect(refusal).toBe('STAFF_ONLY');

  // Signed out: not even the shape of an answer.
  await page.context().clearCookies();
  expect(await query(page, 'ops.tenants.list', {})).toMatchObject({ status: 401 });
});
