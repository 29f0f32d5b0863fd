import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type ProxyOptions } from 'vite';
import { loadConfig } from './server/config/env.ts';

const repo = path.dirname(fileURLToPath(import.meta.url));

/**
 * In development the browser talks to Vite, whose origin the API does not know. A request whose Origin is Vite's
 * own address is same-origin from the browser's point of view, so the proxy presents it as coming from APP_URL;
 * any other Origin passes through untouched and the API's Origin checks still refuse it.
 */
function apiProxy(target: string, appOrigin: string): ProxyOptions {
  const asAppOrigin = (proxyReq: { setHeader(name: string, value: string): void }, req: IncomingMessage) => {
    const origin = req.headers.origin;
    if (origin && URL.canParse(origin) && new URL(origin).host === req.headers.host) {
      proxyReq.setHeader('origin', appOrigin);
    }
  };
  return {
    target,
    configure(proxy) {
      proxy.on('proxyReq', (proxyReq, req) => asAppOrigin(proxyReq, req));
      proxy.on('proxyReqWs', (proxyReq, req) => asAppOrigin(proxyReq, req));
    },
  };
}

export default defineConfig(({ command }) => {
  // Only the dev server needs the API's address; a production build must not depend on runtime settings.
  const api = command === 'serve' ? loadConfig() : null;
  const proxy = api ? apiProxy(`http://localhost:${api.port}`, new URL(api.appUrl).origin) : undefined;
  return {
    root: path.join(repo, 'web'),
    plugins: [react()],
    build: {
      outDir: path.join(repo, 'dist/web'),
      emptyOutDir: true,
      // .vite/manifest.json: which chunks each page loads (web/src/bundle.test.ts and bench/web.bench.ts read it).
      manifest: true,
    },
    server: proxy ? { proxy: { '/trpc': { ...proxy, ws: true }, '/livez': proxy, '/readyz': proxy } } : {},
  };
});
