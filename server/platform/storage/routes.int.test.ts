import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { uploadUrl } from './create.ts';
import { type LocalStorage } from './local.ts';
import { encodeKey, UrlSigner } from './signing.ts';

let env: TestEnv;
let server: RunningServer;
let dir: string;
let storage: LocalStorage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-files-'));
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir });
  server = await startServer(env.deps);
  storage = env.deps.storage as LocalStorage;
});
afterAll(async () => {
  await server?.close();
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The URL the app would hand out, pointed at the test server. */
const local = (url: string) => {
  const u = new URL(url);
  return `${server.url}${u.pathname}${u.search}`;
};

describe('GET /files (local driver downloads)', () => {
  it('serves the file for a valid link, as a private attachment', async () => {
    await storage.put('exports/org-a/e1.csv', 'ID,Name\n1,"a, b"\n');
    const res = await fetch(
      local(
        await storage.downloadUrl('exports/org-a/e1.csv', { expiresInSeconds: 60, filename: 'records.csv' }),
      ),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ID,Name\n1,"a, b"\n');
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toContain('attachment; filename="records.csv"');
    expect(res.headers.get('cache-control')).toBe('private, no-store');
  });

  it('refuses an expired link and tampered ones (403, LINK_EXPIRED / LINK_INVALID)', async () => {
    await storage.put('exports/org-a/e2.csv', 'secret');
    const signer = new UrlSigner(env.config.storage.urlSecret);
    const expired = {
      op: 'get' as const,
      key: 'exports/org-a/e2.csv',
      expires: Math.floor(Date.now() / 1000) - 5,
    };
    const expiredUrl = `${server.url}/files/${encodeKey(expired.key)}?expires=${expired.expires}&signature=${signer.sign(expired)}`;
    const res = await fetch(expiredUrl);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { data: { appCode: 'LINK_EXPIRED' } } });

    const good = new URL(local(await storage.downloadUrl('exports/org-a/e2.csv', { expiresInSeconds: 60 })));
    const variants: ((u: URL) => void)[] = [
      (u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)),
      (u) => u.searchParams.set('signature', 'A'.repeat(43)),
      (u) => u.searchParams.delete('signature'),
      (u) => u.searchParams.set('name', 'other.html'),
      (u) => (u.pathname = `/files/${encodeKey('exports/org-b/e2.csv')}`),
    ];
    for (const edit of variants) {
      const u = new URL(good);
      edit(u);
      const r = await fetch(u);
      expect(r.status, u.toString()).toBe(403);
      expect(await r.text()).not.toContain('secret');
    }
  });

  it('refuses traversal, even with a valid signature over a "../" key', async () => {
    const signer = new UrlSigner(env.config.storage.urlSecret);
    const expires = Math.floor(Date.now() / 1000) + 60;
    for (const key of ['../../etc/passwd', 'exports/../../../etc/passwd', '/etc/passwd']) {
      const p = { op: 'get' as const, key, expires };
      const res = await fetch(
        `${server.url}/files/${encodeKey(key)}?expires=${expires}&signature=${signer.sign(p)}`,
      );
      expect(res.status).toBe(400);
      expect(await res.text()).not.toContain('root:');
    }
    // Raw dot segments are resolved away by the client or the router before any file route sees them.
    for (const raw of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e/%2e%2e/etc/passwd', '../../etc/passwd']) {
      const res = await fetch(`${server.url}/files/${raw}?expires=${expires}&signature=x`);
      expect(res.headers.get('content-disposition')).toBeNull();
      expect(await res.text()).not.toContain('root:');
    }
  });

  it('a download link cannot be used to upload', async () => {
    const url = local(await storage.downloadUrl('imports/org-a/x/upload.csv', { expiresInSeconds: 60 }));
    const res = await fetch(url.replace('/files/', '/uploads/'), { method: 'PUT', body: 'a' });
    expect(res.status).toBe(403);
  });
});

describe('PUT /uploads (signed uploads)', () => {
  it('stores the body once, refuses a second use and anything over the signed size', async () => {
    const target = uploadUrl(env.config, 'imports/org-a/u1/upload.csv', {
      maxBytes: 100,
      expiresInSeconds: 60,
    });
    const ok = await fetch(local(target.url), {
      method: 'PUT',
      body: 'Category,Status,Amount\n',
      headers: { 'content-type': 'text/csv' },
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ key: 'imports/org-a/u1/upload.csv', bytes: 23 });
    const again = await fetch(local(target.url), { method: 'PUT', body: 'other' });
    expect(again.status).toBe(409);

    const small = uploadUrl(env.config, 'imports/org-a/u2/upload.csv', {
      maxBytes: 10,
      expiresInSeconds: 60,
    });
    const big = await fetch(local(small.url), { method: 'PUT', body: 'x'.repeat(11) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { data: { appCode: 'PAYLOAD_TOO_LARGE' } } });
    // A chunked body (no content-length) is cut off while it streams.
    const chunked = await fetch(local(small.url), {
      method: 'PUT',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode('xxxx'));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await storage.head('imports/org-a/u2/upload.csv')).toBeNull();
    const leftovers = (await readdir(dir, { recursive: true })).filter((f) => String(f).includes('u2'));
    expect(leftovers.filter((f) => String(f).endsWith('.partial'))).toEqual([]);
  });

  it('refuses an edited size limit', async () => {
    const target = new URL(
      local(uploadUrl(env.config, 'imports/org-a/u3/upload.csv', { maxBytes: 10, expiresInSeconds: 60 }).url),
    );
    target.searchParams.set('max', String(10 * 1024 * 1024));
    expect((await fetch(target, { method: 'PUT', body: 'x'.repeat(100) })).status).toBe(403);
  });
});
