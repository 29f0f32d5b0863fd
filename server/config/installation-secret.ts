import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where `keel dev` (and any process without SESSION_SECRET outside production) keeps its secret: git-ignored. */
export const INSTALLATION_SECRET_FILE = '.keel/session-secret';

const SECRET = /^[0-9a-f]{64}$/;

/**
 * This installation's own random secret (32 bytes, hex), created on first use and read on every later start, so
 * sessions and signed URLs survive restarts and every local process (API, worker) signs with the same key. The
 * file is created exclusively with mode 0600: two processes starting at once end up with the one that won.
 */
export function installationSecret(file: string = INSTALLATION_SECRET_FILE): string {
  const existing = read(file);
  if (existing) return existing;
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const written = read(file);
  if (!written)
    throw new Error(`${file} does not hold a secret (64 hex characters): delete it to make a new one`);
  return written;
}

function read(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!SECRET.test(text)) {
    throw new Error(`${file} does not hold a secret (64 hex characters): delete it to make a new one`);
  }
  return text;
}
