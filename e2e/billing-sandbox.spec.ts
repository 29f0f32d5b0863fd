import { expect, test, type Page } from '@playwright/test';
import { createKeelClient } from '../shared/sdk/index.ts';
import { E2E_BASE_URL } from './fixtures.ts';
import { confirmationPath } from './mail.ts';

// The end-to-end server bills against Keel's billing sandbox (e2e/serve.ts): every step below goes from the
// browser through the billing procedures to the sandbox over the Stripe SDK, and back through signed webhooks
// processed by the server's worker. A fresh organization keeps the demo organizations' billing as it was.
const PASSWORD = 'sandbox-owner-password';
const OWNER = { email: `sandbox-${Date.now()}@e2e.test`, name: 'Sandy Sandbox' };

const fact = (page: Page, term: string) =>
  page
    .locator('.facts > div')
    .filter({ has: page.getByRole('term').filter({ hasText: term }) })
    .getByRole('definition');

test('billing sandbox: subscribe → swap → cancel at period end → resume; failed payments walk dunning to suspension and a payment lifts it', async ({
  page,
}) => {
  test.setTimeout(120_000);
  // No page error and no failed request along the way (the favicon is the route walk's business).
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`);
  });
  const anonymous = createKeelClient({ url: E2E_BASE_URL });
  await anonymous.auth.register.mutate({ ...OWNER, password: PASSWORD, organizationName: 'Sandbox Trials' });
  const token = new URLSearchParams((await confirmationPath(OWNER.email)).split('?')[1]).get('token')!;
  await anonymous.auth.confirmRegistration.mutate({ token });
  await anonymous.close();

  await page.goto(`/sign-in?next=${encodeURIComponent('/app/billing')}`);
  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/app\/billing$/);
  await expect(page.getByRole('status', { name: 'Billing sandbox' })).toContainText('nothing is charged');

  // Subscribe (a trial; the sandbox gave the customer a test card).
  await page.getByLabel('Choose a plan').selectOption({ label: 'Starter' });
  await page.getByRole('button', { name: 'Subscribe' }).click();
  await expect(fact(page, 'Plan')).toHaveText('Starter');
  await expect(fact(page, 'Status')).toHaveText('trialing');

  // Swap.
  await page.getByLabel('Change plan').selectOption({ label: 'Team' });
  await page.getByRole('button', { name: 'Switch plan' }).click();
  await expect(fact(page, 'Plan')).toHaveText('Team');

  // Cancel at period end, then resume.
  await page.getByRole('button', { name: 'Cancel subscription' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel at period end' }).click();
  await expect(fact(page, 'Status')).toHaveText('canceling');
  await page.getByRole('button', { name: 'Resume subscription' }).click();
  await expect(fact(page, 'Status')).toHaveText('trialing');
  await expect(page.getByRole('button', { name: 'Cancel subscription' })).toBeVisible();

  // Three failed payments: past due, one dunning notice each; the fourth suspends the organization.
  const fail = page.getByRole('button', { name: 'Fail the next payment (sandbox)' });
  for (let attempt = 1; attempt <= 3; attempt++) {
    await fail.click();
    await expect(fact(page, 'Failed payments')).toHaveText(String(attempt));
    await expect(fact(page, 'Status')).toHaveText('past due');
  }
  await fail.click();
  await expect(page.getByRole('alert').filter({ hasText: 'This account is suspended' })).toBeVisible();
  await expect(fact(page, 'Status')).toHaveText('suspended');

  // Paying the open invoice lifts the suspension.
  await page.getByRole('button', { name: 'Pay open invoice' }).click();
  await expect(fact(page, 'Status')).toHaveText('active');
  await expect(page.getByRole('alert').filter({ hasText: 'This account is suspended' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Pay open invoice' })).toHaveCount(0);
  await expect(page.getByRole('row').filter({ hasText: 'Paid' }).first()).toBeVisible();
  expect(errors).toEqual([]);
});
