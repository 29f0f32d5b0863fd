import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type KeelApp } from '../../app.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';

// Issue 17 finding 14: the SPA (and everything else Keel serves) answers with a CSP, cannot be framed, and sends no
// Referer (the reset-password page carries its token in the URL).

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

/** The CSP as directive → sources. */
function policy(header: string | string[] | number | undefined): Map<string, string[]> {
  expect(typeof header).toBe('string');
  return new Map(
    String(header)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

describe('security headers', () => {
  it.each(['/', '/app', '/app/documents/123', '/reset-password?token=abc', '/ops/flags'])(
    'the SPA at %s: CSP without inline code, no framing, no referrer',
    async (url) => {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      const csp = policy(res.headers['content-security-policy']);
      expect(csp.get('default-src')).toEqual(["'self'"]);
      expect(csp.get('script-src')).toEqual(["'self'"]);
      expect(csp.get('style-src')).toEqual(["'self'"]);
      expect(csp.get('connect-src')).toEqual(["'self'"]);
      expect(csp.get('object-src')).toEqual(["'none'"]);
      expect(csp.get('base-uri')).toEqual(["'none'"]);
      expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
      expect([...csp.values()].flat()).not.toContain("'unsafe-inline'");
      expect([...csp.values()].flat()).not.toContain("'unsafe-eval'");
      // On plain http (this test's APP_URL) requests are not upgraded, and no HSTS is promised.
      expect(csp.has('upgrade-insecure-requests')).toBe(false);
      expect(res.headers['strict-transport-security']).toBeUndefined();
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    },
  );

  it('API answers carry them too', async () => {
    const res = await app.inject({ method: 'GET', url: '/trpc/auth.me' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(policy(res.headers['content-security-policy']).get('frame-ancestors')).toEqual(["'none'"]);
  });

  it('served over https, requests are upgraded and HSTS is sent', async () => {
    const https = await createTestEnv({ WEB_DIST: webDist, APP_URL: 'https://app.keel.example' });
    const secure = await buildApp(https.deps);
    try {
      const res = await secure.inject({ method: 'GET', url: '/app' });
      expect(policy(res.headers['content-security-policy']).has('upgrade-insecure-requests')).toBe(true);
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=31536000/);
    } finally {
      await secure.close();
      await https.close();
    }
  });
});
