import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage } from './local.ts';
import { decodeKey, UrlSigner } from './signing.ts';
import {
  assertKey,
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectTooLargeError,
} from './storage.ts';

const SECRET = 'x'.repeat(40);
let dir: string;
let storage: LocalStorage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-storage-'));
  storage = new LocalStorage(dir, new UrlSigner(SECRET), 'http://localhost:3000');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Every file under the storage root, partial ones included. */
async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

describe('keys', () => {
  it.each([
    '../etc/passwd',
    'a/../../b',
    '/etc/passwd',
    'a//b',
    'a/./b',
    '..',
    '.hidden',
    'a\\..\\b',
    'a/%2e%2e/b',
    'a/b c',
    '',
    'a/'.repeat(300),
  ])('refuses %j', (key) => {
    expect(() => assertKey(key)).toThrow(InvalidKeyError);
  });

  it('accepts plain segmented keys', () => {
    expect(assertKey('exports/0b6c/9f.csv')).toBe('exports/0b6c/9f.csv');
  });

  it('the local driver refuses traversal on every operation, before touching the disk', async () => {
    await expect(storage.put('../outside.txt', 'x')).rejects.toThrow(InvalidKeyError);
    await expect(storage.get('../../etc/passwd')).rejects.toThrow(InvalidKeyError);
    await expect(storage.delete('../x')).rejects.toThrow(InvalidKeyError);
    await expect(storage.downloadUrl('a/../../b', { expiresInSeconds: 60 })).rejects.toThrow(InvalidKeyError);
    expect(await readdir(path.dirname(dir))).not.toContain('outside.txt');
  });
});

describe('local driver', () => {
  it('stores a stream and reads it back', async () => {
    const stored = await storage.put('t/a.csv', Readable.from(['a,b\n', '1,2\n']));
    expect(stored).toEqual({ key: 't/a.csv', bytes: 8 });
    const body = await storage.get('t/a.csv');
    expect(Buffer.concat(await body.toArray()).toString()).toBe('a,b\n1,2\n');
    expect(await storage.head('t/a.csv')).toMatchObject({ bytes: 8 });
  });

  it('a failing source leaves no file, not even a partial one', async () => {
    async function* failing() {
      yield 'first chunk\n';
      throw new Error('database went away');
    }
    await expect(storage.put('t/broken.csv', Readable.from(failing()))).rejects.toThrow('database went away');
    expect(await storage.head('t/broken.csv')).toBeNull();
    expect((await filesUnder(dir)).filter((f) => f.includes('broken'))).toEqual([]);
  });

  it('an abort stops the write and removes it', async () => {
    const controller = new AbortController();
    async function* endless() {
      for (let i = 0; ; i++) {
        if (i === 5) controller.abort(new Error('cancelled by the user'));
        yield 'x'.repeat(1024);
        await new Promise((r) => setImmediate(r));
      }
    }
    await expect(
      storage.put('t/aborted.csv', Readable.from(endless()), { signal: controller.signal }),
    ).rejects.toThrow('cancelled by the user');
    expect((await filesUnder(dir)).filter((f) => f.includes('aborted'))).toEqual([]);
  });

  it('refuses more than maxBytes and keeps nothing', async () => {
    await expect(storage.put('t/big.bin', Buffer.alloc(2048), { maxBytes: 1024 })).rejects.toThrow(
      ObjectTooLargeError,
    );
    expect(await storage.head('t/big.bin')).toBeNull();
  });

  it('with overwrite: false, an existing object stays as it was', async () => {
    await storage.put('t/once.csv', 'first');
    await expect(storage.put('t/once.csv', 'second', { overwrite: false })).rejects.toThrow(
      ObjectExistsError,
    );
    expect(await readFile(storage.pathOf('t/once.csv'), 'utf8')).toBe('first');
  });

  it('sweeps the temporary files no writer has touched for the bound, and nothing else', async () => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    // What a writer killed mid-write leaves (kill -9: its put never cleaned up), old.
    const stray = 'sweep/o/dead.csv.0123456789ab.partial';
    await mkdir(path.join(dir, 'sweep/o'), { recursive: true });
    await writeFile(path.join(dir, stray), 'half a file');
    await utimes(path.join(dir, stray), twoHoursAgo, twoHoursAgo);
    // Old files that are not temporary ones stay: a finished object, a name that only looks partial.
    await storage.put('sweep/o/done.csv', 'a,b\n');
    await utimes(storage.pathOf('sweep/o/done.csv'), twoHoursAgo, twoHoursAgo);
    await storage.put('sweep/o/notes.partial', 'mine');
    await utimes(storage.pathOf('sweep/o/notes.partial'), twoHoursAgo, twoHoursAgo);
    // A write in progress: its temporary file was just written to.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    async function* slow() {
      yield 'first chunk\n';
      await held;
      yield 'last chunk\n';
    }
    const writing = storage.put('sweep/o/live.csv', Readable.from(slow()));
    const live = async () => (await filesUnder(dir)).filter((f) => f.startsWith('sweep/o/live.csv.'));
    for (let i = 0; i < 100 && !(await live()).length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await live()).toHaveLength(1);

    expect(await storage.sweepIncomplete(3_600_000)).toEqual([stray]);
    release();
    await writing;
    expect((await filesUnder(dir)).filter((f) => f.startsWith('sweep/')).sort()).toEqual([
      'sweep/o/done.csv',
      'sweep/o/live.csv',
      'sweep/o/notes.partial',
    ]);
  });

  it('an object deleted after get() answered is still read whole, with no error event', async () => {
    await storage.put('t/gone.csv', Readable.from(['x,y\n', '3,4\n']));
    const body = await storage.get('t/gone.csv');
    await storage.delete('t/gone.csv');
    // Before, the stream opened the file when first read: ENOENT, emitted before any listener in a caller that awaited
    // something else first, crashed the process.
    await new Promise((r) => setTimeout(r, 20));
    expect(Buffer.concat(await body.toArray()).toString()).toBe('x,y\n3,4\n');
    expect(await storage.head('t/gone.csv')).toBeNull();
  });

  it('a missing object is NotFound on get and null on head; delete does not mind', async () => {
    await expect(storage.get('t/none.csv')).rejects.toThrow(ObjectNotFoundError);
    await expect(storage.get('t')).rejects.toThrow(ObjectNotFoundError);
    expect(await storage.head('t/none.csv')).toBeNull();
    await expect(storage.delete('t/none.csv')).resolves.toBeUndefined();
  });
});

describe('signed URLs', () => {
  const signer = new UrlSigner(SECRET);
  const future = Math.floor(Date.now() / 1000) + 600;
  const params = { op: 'get' as const, key: 'exports/o/e.csv', expires: future, name: 'records.csv' };

  it('verifies what it signed', () => {
    expect(signer.verify(params, signer.sign(params))).toEqual({ ok: true });
  });

  it('refuses any edited parameter as invalid', () => {
    const sig = signer.sign(params);
    for (const edited of [
      { ...params, key: 'exports/o/other.csv' },
      { ...params, expires: future + 3600 },
      { ...params, name: 'evil.html' },
      { ...params, op: 'put' as const },
    ]) {
      expect(signer.verify(edited, sig)).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(signer.verify(params, sig.slice(0, -2) + 'AA')).toEqual({ ok: false, reason: 'invalid' });
    expect(new UrlSigner('y'.repeat(40)).verify(params, sig)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refuses an expired one as expired', () => {
    const past = { ...params, expires: Math.floor(Date.now() / 1000) - 1 };
    expect(signer.verify(past, signer.sign(past))).toEqual({ ok: false, reason: 'expired' });
  });

  it('carries the key as base64url in the path', async () => {
    const url = new URL(
      await storage.downloadUrl('exports/o/e.csv', { expiresInSeconds: 60, filename: 'r.csv' }),
    );
    expect(url.pathname.startsWith('/files/')).toBe(true);
    expect(decodeKey(url.pathname.slice('/files/'.length))).toBe('exports/o/e.csv');
    expect(url.searchParams.get('name')).toBe('r.csv');
    expect(decodeKey('../../etc')).toBeNull();
  });

  it('refuses short secrets', () => {
    expect(() => new UrlSigner('short')).toThrow();
  });
});
