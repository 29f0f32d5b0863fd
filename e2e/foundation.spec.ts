import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { SWITCHER } from './fixtures.ts';
import { confirmationPath, linkMailedTo } from './mail.ts';

const PASSWORD = 'keel-demo-password';
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

const screenshot = (page: Page, name: string) =>
  page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

async function signIn(page: Page, email: string, password = PASSWORD) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The raw tRPC answer for a query, as any HTTP client would see it (superjson-wrapped). */
async function rawQuery(page: Page, path: string) {
  const response = await page.request.get(`/trpc/${path}`);
  const body = (await response.json()) as {
    error?: { json: { message: string; data: { appCode: string } } };
  };
  return { status: response.status(), error: body.error?.json };
}

test('a visitor is sent to sign in, and bad credentials get clear messages', async ({ page }) => {
  await page.goto('/app');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fapp$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await screenshot(page, 'sign-in');

  await signIn(page, 'not-an-email', 'x');
  await expect(page.getByText('Email must be a valid email address')).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');

  await signIn(page, 'owner@acme.test', 'wrong-password');
  await expect(page.getByRole('alert')).toHaveText('Email or password is incorrect');
  await expect(page).toHaveURL(/\/sign-in/);
  await screenshot(page, 'sign-in-error');
});

test('the demo owner signs in with the keyboard and sees the Acme tenant shell, live', async ({ page }) => {
  await page.goto('/app');
  await expect(page.getByLabel('Email')).toBeFocused();
  await page.keyboard.type('owner@acme.test');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');

  await expect(page).toHaveURL(/\/app$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Acme' })).toBeVisible();
  await expect(page.getByRole('combobox', { name: 'Organization' })).toHaveValue(/.+/);
  await expect(page.getByRole('combobox', { name: 'Organization' }).locator('option:checked')).toHaveText(
    'Acme',
  );
  const members = page.getByRole('region', { name: 'Members' });
  await expect(members.getByRole('row', { name: /Olivia Owner/ })).toContainText('owner');
  await expect(members.getByRole('row', { name: /Max Member/ })).toContainText('member');
  const activity = page.getByRole('list', { name: 'Activity, newest first' });
  await expect(activity.getByRole('listitem').first()).toContainText('joined the organization');
  await expect(page.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();

  // Another client (the same owner, outside this page) changes the organization: the feed shows it without a reload.
  const update = await page.request.post('/trpc/organization.update', {
    data: { json: { billingEmail: 'billing@acme.test' } },
  });
  expect(update.status()).toBe(200);
  await expect(activity.getByRole('listitem').first()).toContainText(
    'Olivia Owner updated the organization settings',
  );
  await screenshot(page, 'tenant-home');

  await page.getByLabel('Account menu for Olivia Owner').click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByText('You have signed out.')).toBeVisible();
  await page.goto('/app');
  await expect(page).toHaveURL(/\/sign-in\?next=/);
});

test('a member of two organizations switches between them', async ({ page }) => {
  await page.goto('/sign-in');
  await signIn(page, SWITCHER.email);
  await expect(page.getByRole('heading', { level: 1, name: 'Acme' })).toBeVisible();
  const members = page.getByRole('region', { name: 'Members' });
  await expect(members.getByRole('row', { name: /Olivia Owner/ })).toBeVisible();

  await page.getByRole('combobox', { name: 'Organization' }).selectOption({ label: 'Globex' });
  await expect(page.getByRole('heading', { level: 1, name: 'Globex' })).toBeVisible();
  await expect(members.getByRole('row', { name: /Gina Globex/ })).toBeVisible();
  await expect(members.getByRole('row', { name: /Olivia Owner/ })).toHaveCount(0);
  await expect(page.getByRole('status').filter({ hasText: 'Live' })).toBeVisible();
  await screenshot(page, 'tenant-switched');

  // The choice is the user's current organization on the server, not page state.
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Globex' })).toBeVisible();
});

test('a new account registers, confirms its email by the mailed link and lands in its own organization', async ({
  page,
}) => {
  const email = `new-${Date.now()}@initech.test`;
  await page.goto('/register');
  await page.getByLabel('Your name').fill('Nora New');
  await page.getByLabel('Email').fill('owner@acme.test');
  await page.getByLabel('Password').fill('short');
  await page.getByLabel('Organization name').fill('Initech');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByText('Password must be at least 10 characters')).toBeVisible();

  // An address that has an account gets the same answer as a new one; the mail to it says so.
  await page.getByLabel('Password').fill('a-long-enough-password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('status')).toContainText('Check your email');
  await linkMailedTo('owner@acme.test', /\/forgot-password/);

  await page.goto('/register');
  await page.getByLabel('Your name').fill('Nora New');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('a-long-enough-password');
  await page.getByLabel('Organization name').fill('Initech');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('status')).toContainText(`Check your email. We sent a message to ${email}`);
  await screenshot(page, 'register-check-your-email');

  const link = await confirmationPath(email);
  await page.goto(link);
  await expect(page.getByRole('heading', { level: 1, name: 'Confirm your email' })).toBeVisible();
  await page.getByRole('button', { name: 'Create my account' }).click();
  await expect(page).toHaveURL(/\/app$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Initech' })).toBeVisible();
  await expect(
    page.getByRole('region', { name: 'Members' }).getByRole('row', { name: /Nora New/ }),
  ).toBeVisible();
  // Only Acme's members may see Acme: the new owner's page shows none of them.
  await expect(page.getByText('Olivia Owner')).toHaveCount(0);

  // The link works once.
  await page.goto(link);
  await page.getByRole('button', { name: 'Create my account' }).click();
  await expect(page.getByRole('alert')).toContainText('This link is not valid');
});

test('the operator sees the ops shell with the organization list and can search it', async ({ page }) => {
  await page.goto('/ops');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fops$/);
  await signIn(page, 'ops@keel.test');

  await expect(page).toHaveURL(/\/ops$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Operations' })).toBeVisible();
  await expect(page.getByLabel('Overview')).toContainText('Organizations');
  const organizations = page.getByRole('region', { name: 'Organizations' });
  await expect(organizations.getByRole('row', { name: /Acme/ })).toContainText('professional');
  await expect(organizations.getByRole('row', { name: /Globex/ })).toContainText('enterprise');
  await screenshot(page, 'ops-home');

  await page.getByLabel('Search organizations').fill('glob');
  await page.getByLabel('Search organizations').press('Enter');
  await expect(page).toHaveURL(/\/ops\?q=glob$/);
  await expect(organizations.getByRole('row', { name: /Globex/ })).toBeVisible();
  await expect(organizations.getByRole('row', { name: /Acme/ })).toHaveCount(0);
  await expect(organizations.getByText('1–1 of 1')).toBeVisible();

  await page.getByLabel('Search organizations').fill('no-such-organization');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(organizations.getByText('No organization matches “no-such-organization”')).toBeVisible();
  await page.getByRole('button', { name: 'Clear' }).click();
  await expect(organizations.getByRole('row', { name: /Acme/ })).toBeVisible();
});

test('a member opening /ops is refused, by the page and by the server', async ({ page }) => {
  await page.goto('/ops');
  await signIn(page, 'member@acme.test');

  await expect(page).toHaveURL(/\/ops$/);
  await expect(page.getByRole('heading', { name: 'Staff only' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Operations' })).toHaveCount(0);
  await screenshot(page, 'staff-only');

  const refused = await rawQuery(page, 'ops.overview');
  expect(refused.status).toBe(403);
  expect(refused.error?.data.appCode).toBe('STAFF_ONLY');

  await page.getByRole('link', { name: 'Go to your organization' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Acme' })).toBeVisible();
});
