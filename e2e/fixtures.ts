import path from 'node:path';

// Where the end-to-end server listens (E2E_PORT moves it, so two checkouts can run their browser tests side by side).
// APP_URL must be this exact origin: the server compares the Origin of cookie mutations and WebSocket upgrades
// against it.
export const E2E_PORT = Number(process.env.E2E_PORT ?? 3100);
export const E2E_BASE_URL = `http://127.0.0.1:${E2E_PORT}`;

/**
 * Where the end-to-end server's mail goes (the embedded outbox: one .eml file per message), so a spec can open the
 * link a message carries, as its recipient would (e2e/mail.ts). Emptied when the server starts and stops.
 */
export const E2E_MAIL_DIR = path.resolve('.keel', `e2e-mail-${E2E_PORT}`);

/**
 * Every demo login belongs to one organization at most; the organization switcher needs someone in two. serve.ts
 * creates this user (demo password, member of both) only in end-to-end databases.
 */
export const SWITCHER = {
  email: 'switcher@e2e.test',
  name: 'Sam Switcher',
  organizations: ['acme', 'globex'],
};

/** What serve.ts seeds for the tenant app spec: Acme's records (a quarter of them `active`) for the export. */
export const TENANT_APP = { acmeRecords: 120 };

/** What e2e/walk-seed.ts adds for the route walk: an admin of Acme and public documents with two versions each. */
export const WALK = {
  admin: { email: 'admin@e2e.test', name: 'Ada Admin' },
  documents: [
    ['Quarterly plan', 'Goals for the quarter.', 'Goals for the quarter, agreed with the team.'],
    ['Onboarding checklist', 'Accounts, keys, first task.', 'Accounts, keys, first task, first review.'],
  ] as const,
};
