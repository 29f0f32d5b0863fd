import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from '@playwright/test';
import { decodeQuotedPrintable } from '../server/platform/mail/testing/smtp-capture.ts';
import { E2E_MAIL_DIR } from './fixtures.ts';

/** The messages the end-to-end server has written to its outbox for an address, decoded as a reader sees them. */
async function messagesTo(address: string): Promise<string[]> {
  const files = await readdir(E2E_MAIL_DIR).catch(() => []);
  const messages = await Promise.all(
    files.filter((f) => f.endsWith('.eml')).map((f) => readFile(path.join(E2E_MAIL_DIR, f), 'utf8')),
  );
  const to = new RegExp(`^To: ${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'im');
  return messages.filter((m) => to.test(m)).map(decodeQuotedPrintable);
}

/** Waits for a message to the address whose text matches `link`, and answers the link (the mail job sends it). */
export async function linkMailedTo(address: string, link: RegExp): Promise<string> {
  let found: string | undefined;
  await expect
    .poll(
      async () => {
        for (const m of await messagesTo(address)) found ??= link.exec(m)?.[0];
        return found;
      },
      { message: `a mail to ${address} with a link matching ${link}`, timeout: 20_000 },
    )
    .toBeDefined();
  return found!.replace(/&amp;/g, '&');
}

/** The confirmation link of a registration, as a path on the end-to-end server. */
export async function confirmationPath(address: string): Promise<string> {
  const link = await linkMailedTo(address, /https?:\/\/[^/\s]+\/register\/confirm\?token=[A-Za-z0-9_-]{43}/);
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}
