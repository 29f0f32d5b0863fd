import { fileURLToPath } from 'node:url';
import { expect, test, type Browser, type Page, type WebSocketRoute } from '@playwright/test';
import { createKeelClient, signIn as sdkSignIn } from '../shared/sdk/index.ts';
import { readFile } from 'node:fs/promises';
import { E2E_BASE_URL, TENANT_APP } from './fixtures.ts';

const PASSWORD = 'keel-demo-password';
const OWNER = { email: 'owner@acme.test', name: 'Olivia Owner' };
const MEMBER = { email: 'member@acme.test', name: 'Max Member' };
const OTHER_TENANT = 'owner@globex.test';
const OPERATOR = 'ops@keel.test';
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

const screenshot = (page: Page, name: string) =>
  page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

async function signIn(page: Page, email: string, next = '/app') {
  await page.goto(`/sign-in?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/.]/g, '\\$&')}$`));
}

/** A fresh browser context (its own cookies and WebSocket) signed in as `email`. */
async function userPage(browser: Browser, email: string, next = '/app') {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, email, next);
  return { context, page };
}

async function createDocument(page: Page, title: string): Promise<string> {
  await page.goto('/app/documents');
  await page.getByLabel('Title').fill(title);
  await page.getByRole('button', { name: 'Create document' }).click();
  await expect(page).toHaveURL(/\/app\/documents\/[0-9a-f-]{36}$/);
  return new URL(page.url()).pathname;
}

const presence = (page: Page) => page.getByRole('region', { name: 'People here' });
const content = (page: Page) => page.getByLabel('Content', { exact: true });
const saveStatus = (page: Page) => page.locator('.save-status');

test('two members edit one document together: presence, live edits, conflict, leaving', async ({
  browser,
}) => {
  const owner = await userPage(browser, OWNER.email);
  const path = await createDocument(owner.page, 'Launch plan');
  const member = await userPage(browser, MEMBER.email, path);

  // Both see each other.
  await expect(presence(owner.page)).toContainText(MEMBER.name);
  await expect(presence(member.page)).toContainText(OWNER.name);
  await expect(presence(member.page)).toContainText(`${MEMBER.name} (you)`);

  // An edit in one appears in the other, without a reload.
  await content(owner.page).fill('First line from Olivia');
  await expect(saveStatus(owner.page)).toHaveText('Saved');
  await expect(content(member.page)).toHaveValue('First line from Olivia');
  await expect(member.page.getByText('Version 2')).toBeVisible();
  await screenshot(member.page, 'tenant-document');

  // A simultaneous edit: the member's save is held on the wire while the owner saves on the same version.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await member.page.route('**/trpc/documents.update*', async (route) => {
    await held;
    await route.continue();
  });
  await content(member.page).fill('Max rewrote it');
  await expect(saveStatus(member.page)).toHaveText('Saving…');
  await content(owner.page).fill('Olivia rewrote it');
  await expect(saveStatus(owner.page)).toHaveText('Saved');
  release();

  const conflict = member.page.getByRole('region', { name: 'Conflict' });
  await expect(conflict).toBeVisible();
  await expect(saveStatus(member.page)).toHaveText('Not saved: someone else saved first');
  await expect(conflict.getByRole('region', { name: 'Your version' }).locator('pre')).toHaveText(
    'Max rewrote it',
  );
  await expect(conflict.getByRole('region', { name: 'Latest version' }).locator('pre')).toHaveText(
    'Olivia rewrote it',
  );
  await screenshot(member.page, 'tenant-document-conflict');
  await member.page.unroute('**/trpc/documents.update*');

  await conflict.getByRole('button', { name: 'Keep mine' }).click();
  await expect(conflict).toBeHidden();
  await expect(saveStatus(member.page)).toHaveText('Saved');
  await expect(content(owner.page)).toHaveValue('Max rewrote it');

  // "Take latest" discards the local text for the other's.
  let release2!: () => void;
  const held2 = new Promise<void>((resolve) => (release2 = resolve));
  await owner.page.route('**/trpc/documents.update*', async (route) => {
    await held2;
    await route.continue();
  });
  await content(owner.page).fill('Olivia again');
  await expect(saveStatus(owner.page)).toHaveText('Saving…');
  await content(member.page).fill('Max again');
  await expect(saveStatus(member.page)).toHaveText('Saved');
  release2();
  const ownerConflict = owner.page.getByRole('region', { name: 'Conflict' });
  await ownerConflict.getByRole('button', { name: 'Take latest' }).click();
  await expect(content(owner.page)).toHaveValue('Max again');
  await expect(saveStatus(owner.page)).toHaveText('Saved');
  await owner.page.unroute('**/trpc/documents.update*');

  // Closing one removes it from the other's presence bar (the server drops the tab when its socket closes).
  await owner.context.close();
  const people = presence(member.page).getByRole('listitem');
  await expect(people.filter({ hasText: OWNER.name })).toHaveCount(0, { timeout: 20_000 });
  await expect(people).toHaveCount(1);
  await expect(presence(member.page)).toContainText(`${OWNER.name} left`);
  await member.context.close();
});

test('a user of another organization cannot open the document URL', async ({ browser }) => {
  const owner = await userPage(browser, OWNER.email);
  const path = await createDocument(owner.page, 'Acme secret roadmap');
  await owner.context.close();

  const outsider = await userPage(browser, OTHER_TENANT, path);
  await expect(outsider.page.getByText('Document not found or no access')).toBeVisible();
  await expect(outsider.page.getByText('Acme secret roadmap')).toHaveCount(0);
  await expect(outsider.page.getByLabel('Content', { exact: true })).toHaveCount(0);
  await screenshot(outsider.page, 'tenant-document-no-access');
  await outsider.context.close();
});

test('an API token created on the page works with the SDK until it is revoked', async ({ page }) => {
  await signIn(page, OWNER.email, '/app/tokens');
  const name = `e2e sync ${Date.now()}`;
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByLabel('Token secret').textContent())?.trim() ?? '';
  expect(secret).toMatch(/^keel_/);
  const row = page.getByRole('row', { name: new RegExp(name) });
  await expect(row).toContainText('Never');
  await screenshot(page, 'tenant-tokens');

  const client = createKeelClient({ url: E2E_BASE_URL, token: secret });
  try {
    const members = await client.organization.members.query();
    expect(members.map((m) => m.email)).toContain(OWNER.email);
    // The list shows the use.
    await page.reload();
    await expect(row.getByRole('cell').nth(2)).not.toHaveText('Never');

    await row.getByRole('button', { name: `Revoke ${name}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await expect(row).toContainText('Revoked');
    await expect(client.organization.members.query()).rejects.toMatchObject({
      data: { httpStatus: 401 },
    });
  } finally {
    await client.close();
  }
});

test('the dashboard shows cached stats, and the flagged analytics panel only where the flag is on', async ({
  browser,
}) => {
  const acme = await userPage(browser, OWNER.email);
  await expect(acme.page.getByRole('region', { name: 'Statistics' })).toContainText('Members');
  await expect(acme.page.getByRole('region', { name: 'New analytics' })).toBeVisible();
  await screenshot(acme.page, 'tenant-dashboard');
  await acme.context.close();

  const globex = await userPage(browser, OTHER_TENANT);
  await expect(globex.page.getByRole('region', { name: 'Statistics' })).toBeVisible();
  await expect(globex.page.getByRole('region', { name: 'New analytics' })).toHaveCount(0);
  await globex.context.close();
});

test('an export requested on the page reaches 100 % and downloads the filtered rows', async ({ page }) => {
  await signIn(page, OWNER.email, '/app/exports');
  await page.getByRole('checkbox', { name: 'active' }).check();
  // Only the seeded records (all created before 2026), whatever other tests have imported since.
  await page.getByLabel('Created before').fill('2026-01-01');
  await page.getByRole('button', { name: 'Request export' }).click();

  const row = page.getByRole('table', { name: 'Exports' }).getByRole('row').nth(1);
  await expect(row).toContainText('active');
  await expect(row.getByRole('progressbar')).toHaveAttribute('value', '1', { timeout: 30_000 });
  await expect(row).toContainText('100 %');
  await expect(row).toContainText('completed');
  await screenshot(page, 'tenant-exports');

  const download = page.waitForEvent('download');
  await row.getByRole('button', { name: 'Download' }).click();
  const file = await (await download).path();
  const lines = (await readFile(file, 'utf8')).trim().split(/\r?\n/);
  const [header, ...rows] = lines;
  expect(header).toContain('Status');
  const statusColumn = header!.split(',').indexOf('Status');
  expect(rows).toHaveLength(TENANT_APP.acmeRecords / 4);
  expect(new Set(rows.map((r) => r.split(',')[statusColumn]))).toEqual(new Set(['active']));
});

test('a dropped WebSocket shows "reconnecting", and the editor catches up after reconnecting', async ({
  browser,
}) => {
  const owner = await userPage(browser, OWNER.email);
  const path = await createDocument(owner.page, 'Flaky network notes');

  // The member's socket goes through this route, so the test can cut it and refuse reconnects for a while.
  const context = await browser.newContext();
  const page = await context.newPage();
  let socket: { page: WebSocketRoute; server: WebSocketRoute } | null = null;
  let refuse = false;
  await page.routeWebSocket(/\/trpc$/, (ws) => {
    // A refused socket opens (a mock, with no server behind it) and drops at once, as a flaky network would.
    if (refuse) return void setTimeout(() => void ws.close({ code: 1011, reason: 'test: network down' }), 50);
    socket = { page: ws, server: ws.connectToServer() };
  });
  await signIn(page, MEMBER.email, path);
  await expect(presence(page)).toContainText(OWNER.name);
  await expect(presence(owner.page)).toContainText(MEMBER.name);

  refuse = true;
  await socket!.server.close();
  await socket!.page.close({ code: 1011, reason: 'test: network down' });
  await expect(page.getByText('Reconnecting to live updates')).toBeVisible();
  await expect(saveStatus(page)).toHaveText('Offline');
  await screenshot(page, 'tenant-reconnecting');

  // Saved while the member was away: it arrives after the reconnect, from the stream's last event id.
  await content(owner.page).fill('Written while Max was offline');
  await expect(saveStatus(owner.page)).toHaveText('Saved');
  refuse = false;
  await expect(page.getByText('Reconnecting to live updates')).toBeHidden({ timeout: 20_000 });
  await expect(content(page)).toHaveValue('Written while Max was offline');
  await expect(saveStatus(page)).toHaveText('Saved');
  await context.close();
  await owner.context.close();
});

test('an editor that missed an announced version reads the document again instead of merging onto a stale base', async ({
  browser,
}) => {
  const owner = await userPage(browser, OWNER.email);
  const path = await createDocument(owner.page, 'Gap notes');

  // The member's socket drops the announcement of version 2 on its way to the page, as a late outbox relay or a lost
  // frame would: the next announcement (version 3) then skips a version this editor never saw.
  const context = await browser.newContext();
  const page = await context.newPage();
  let dropped = 0;
  await page.routeWebSocket(/\/trpc$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      if (typeof message === 'string' && message.includes('"changes"') && /"version":2[,}]/.test(message)) {
        dropped += 1;
        return;
      }
      ws.send(message);
    });
  });
  await signIn(page, MEMBER.email, path);
  await expect(presence(page)).toContainText(OWNER.name);

  await owner.page.getByLabel('Title').fill('Gap notes, renamed');
  await expect.poll(() => dropped).toBe(1);
  await expect(page.getByText('Version 1 ·')).toBeVisible();

  // Version 3 announces only the content; merged onto version 1 it would keep the old title.
  await content(owner.page).fill('Written after the rename');
  await expect(owner.page.getByText('Version 3 ·')).toBeVisible();
  await expect(content(page)).toHaveValue('Written after the rename');
  await expect(page.getByLabel('Title')).toHaveValue('Gap notes, renamed');
  await expect(page.getByText('Version 3 ·')).toBeVisible();
  await expect(saveStatus(page)).toHaveText('Saved');
  await context.close();
  await owner.context.close();
});

test('several CSV files upload as one batch, with live progress and a per-row error report', async ({
  page,
}) => {
  await signIn(page, OWNER.email, '/app/imports');
  const run = Date.now();
  const csv = (rows: string[]) => Buffer.from(['Category,Status,Amount', ...rows].join('\n') + '\n');
  await page.getByLabel('CSV files').setInputFiles([
    {
      name: `good-${run}.csv`,
      mimeType: 'text/csv',
      buffer: csv(['books,active,12.50', 'games,pending,3.00']),
    },
    { name: `bad-${run}.csv`, mimeType: 'text/csv', buffer: csv(['books,active,1.00', 'toys,bogus,abc']) },
  ]);
  await page.getByRole('button', { name: 'Import 2 files' }).click();

  const table = page.getByRole('table', { name: 'Imports' });
  const good = table.getByRole('row', { name: new RegExp(`good-${run}\\.csv`) });
  const bad = table.getByRole('row', { name: new RegExp(`bad-${run}\\.csv`) });
  await expect(good).toContainText('completed', { timeout: 30_000 });
  await expect(good).toContainText('100 %');
  await expect(good).toContainText('2 of 2');
  await expect(bad).toContainText(/row errors?/, { timeout: 30_000 });
  await bad.getByText(/row errors?/).click();
  // Line 3 of bad.csv (header, good row, bad row) is wrong in two columns; the file is rejected as a whole.
  await expect(bad).toContainText('invalid');
  const problems = bad.getByRole('row', { name: /^3 / });
  await expect(problems).toHaveCount(2);
  await expect(problems.filter({ hasText: 'Status' })).toContainText('must be one of');
  await expect(problems.filter({ hasText: 'Amount' })).toContainText('must be a number');
  await screenshot(page, 'tenant-imports');
});

test('members: owners invite with a role, and server field errors show at the field', async ({ page }) => {
  await signIn(page, OWNER.email, '/app/members');
  const members = page.getByRole('region', { name: 'Members' });
  await expect(members.getByRole('row', { name: /Max Member/ })).toContainText('member');

  const invite = page.getByRole('region', { name: 'Invite someone' });
  await invite.getByLabel('Email').fill('not-an-email');
  await invite.getByRole('button', { name: 'Send invitation' }).click();
  await expect(invite.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
  await expect(invite.getByText(/^Email /)).toBeVisible();

  const hire = `new.hire.${Date.now()}@acme.test`;
  await invite.getByLabel('Email').fill(hire);
  await invite.getByLabel('Role').selectOption('admin');
  await invite.getByRole('button', { name: 'Send invitation' }).click();
  await expect(invite.getByRole('status')).toHaveText(`Invitation sent to ${hire}.`);
  await expect(page.getByRole('region', { name: 'Pending invitations' })).toContainText(hire);
  await screenshot(page, 'tenant-members');
});

test('forgot password answers the same whether or not the account exists', async ({ page }) => {
  await page.goto('/sign-in');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await page.getByLabel('Email').fill('nobody@nowhere.test');
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await expect(page.getByRole('status')).toContainText('If nobody@nowhere.test has an account');

  await page.goto('/reset-password?token=short');
  await page.getByLabel('New password').fill('a-new-password-123');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toHaveText('This reset link is not valid. Request a new one.');
});

test('billing: the owner is told billing runs in the sandbox; a member has no billing page in the menu', async ({
  browser,
}) => {
  const owner = await userPage(browser, OWNER.email, '/app/billing');
  await expect(owner.page.getByRole('heading', { level: 1, name: 'Billing' })).toBeVisible();
  // The end-to-end server bills against Keel's billing sandbox (no Stripe key): the page says so plainly.
  await expect(owner.page.getByRole('status', { name: 'Billing sandbox' })).toBeVisible();
  await expect(owner.page.getByRole('alert')).toHaveCount(0);
  await screenshot(owner.page, 'tenant-billing');
  await owner.context.close();

  const member = await userPage(browser, MEMBER.email);
  await expect(member.page.getByRole('navigation', { name: 'Main' })).toContainText('API tokens');
  await expect(member.page.getByRole('link', { name: 'Billing' })).toHaveCount(0);
  await member.context.close();
});

test('a suspended organization sees a banner that leads to billing', async ({ page }) => {
  const owner = await sdkSignIn({ url: E2E_BASE_URL, email: OTHER_TENANT, password: PASSWORD });
  const operator = await sdkSignIn({ url: E2E_BASE_URL, email: OPERATOR, password: PASSWORD });
  const globex = (await owner.auth.me.query()).organization!;
  await operator.ops.tenants.suspend.mutate({ id: globex.id, reason: 'e2e: unpaid invoices' });
  try {
    await signIn(page, OTHER_TENANT);
    const banner = page.getByRole('alert').filter({ hasText: `${globex.name} is suspended` });
    await expect(banner).toBeVisible();
    await screenshot(page, 'tenant-suspended');
    await banner.getByRole('link', { name: 'Review billing to restore the account' }).click();
    await expect(page).toHaveURL(/\/app\/billing$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Billing' })).toBeVisible();
  } finally {
    await operator.ops.tenants.reactivate.mutate({ id: globex.id, reason: 'e2e: done' });
    await Promise.all([owner.close(), operator.close()]);
  }
});

// Seeded in Acme by e2e/serve.ts (seedMembersSpecPeople) for this test alone, so the demo logins keep their roles.
const CASEY = { email: 'casey@e2e.test', name: 'Casey Churn' };
const LEE = { email: 'lee@e2e.test', name: 'Lee Leaver' };

test('members: an owner changes a role and removes a member; the last owner cannot step down; a member leaves', async ({
  browser,
}) => {
  const owner = await userPage(browser, OWNER.email, '/app/members');
  const members = owner.page.getByRole('region', { name: 'Members' });

  // The server's LAST_OWNER refusal shows at the owner's own role, which stays as it was.
  const ownRole = members.getByLabel(`Role of ${OWNER.name}`);
  await ownRole.selectOption('admin');
  await expect(members.getByRole('alert')).toHaveText(/last owner cannot be demoted/);
  await expect(ownRole).toHaveValue('owner');
  await expect(ownRole).toHaveAttribute('aria-invalid', 'true');

  const caseyRow = members.getByRole('row', { name: new RegExp(CASEY.name) });
  await caseyRow.getByLabel(`Role of ${CASEY.name}`).selectOption('admin');
  await expect(caseyRow.getByLabel(`Role of ${CASEY.name}`)).toHaveValue('admin');
  await owner.page.reload();
  await expect(caseyRow.getByLabel(`Role of ${CASEY.name}`)).toHaveValue('admin');

  await caseyRow.getByRole('button', { name: 'Remove' }).click();
  const dialog = owner.page.getByRole('dialog', { name: `Remove ${CASEY.name}?` });
  await expect(dialog).toBeVisible();
  await screenshot(owner.page, 'tenant-members-remove');
  await dialog.getByRole('button', { name: 'Remove member' }).click();
  await expect(dialog).toBeHidden();
  await expect(caseyRow).toHaveCount(0);
  await expect(members.getByRole('row', { name: new RegExp(OWNER.name) })).toBeVisible();

  // A member sees no management controls, and can leave.
  const lee = await userPage(browser, LEE.email, '/app/members');
  const leeMembers = lee.page.getByRole('region', { name: 'Members' });
  await expect(leeMembers.getByRole('row', { name: new RegExp(OWNER.name) })).toBeVisible();
  await expect(leeMembers.getByRole('combobox')).toHaveCount(0);
  await expect(leeMembers.getByRole('button', { name: 'Remove' })).toHaveCount(0);
  await leeMembers.getByRole('button', { name: 'Leave organization' }).click();
  await lee.page
    .getByRole('dialog', { name: /^Leave / })
    .getByRole('button', { name: 'Leave' })
    .click();
  await expect(lee.page).toHaveURL(/\/app$/);
  await expect(lee.page.getByRole('link', { name: 'Members' })).toHaveCount(0);
  await lee.context.close();

  await owner.page.reload();
  await expect(members.getByRole('row', { name: new RegExp(LEE.name) })).toHaveCount(0);
  await owner.context.close();
});
