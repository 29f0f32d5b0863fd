import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type KeelApp } from '../../app.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';

// The SPA's pages are answered with index.html; a missing file is a 404. The route walk found /ops/flags/<key> a
// 404 for a flag key with a dot in it (e2e.new-editor-…), which looked like a file name.

let env: TestEnv;
let app: KeelApp;
let webDist: string;
beforeAll(async () => {
  webDist = await mkdtemp(path.join(os.tmpdir(), 'keel-web-'));
  await writeFile(path.join(webDist, 'index.html'), '<!doctype html><div id="root"></div>');
  env = await createTestEnv({ WEB_DIST: webDist });
  app = await buildApp(env.deps);
});
afterAll(async () => {
  await app?.close();
  await env?.close();
  await rm(webDist, { recursive: true, force: true });
});

describe('the SPA fallback', () => {
  it.each([
    '/ops/flags/e2e.new-editor-x1',
    '/ops/flags/checkout.v2',
    '/app/documents/x.y',
    '/app',
    '/sign-in',
  ])('%s is a page of the SPA', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('<div id="root">');
  });

  it.each(['/missing.js', '/assets/gone.css', '/favicon.ico'])(
    '%s is a missing file: a typed 404',
    async (url) => {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: { data: { appCode: 'NOT_FOUND' } } });
    },
  );
});
