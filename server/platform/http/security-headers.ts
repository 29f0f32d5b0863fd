import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Security headers on every response (helmet), written for the built SPA: Vite emits module scripts and
 * stylesheets as files under /assets, React sets `style` props through the CSSOM (which CSP does not govern), and
 * the app talks to its own origin only (HTTP /trpc and the WebSocket on the same host: `'self'` covers ws/wss
 * there). Nothing inline is needed, so nothing inline is allowed: an injected `<script>` or `<style>` does not run.
 * No page may be framed (clickjacking), and no URL leaves in a Referer: the reset-password page carries its token
 * in the URL.
 */
function helmetOptions(appUrl: string): HelmetOptions {
  const https = new URL(appUrl).protocol === 'https:';
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        // Only where the app is served over HTTPS: on http://localhost it would send the SPA's requests to https.
        ...(https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: https ? { maxAge: 365 * 24 * 3600 } : false,
    // Signed download links are opened from mail and other sites; the SPA embeds nothing cross-origin.
    crossOriginEmbedderPolicy: false,
  };
}

/**
 * The headers helmet writes, computed once: they depend on configuration only, so the app sets this record on each
 * response instead of running helmet per request (@fastify/helmet rebuilt helmet and the CSP string every time).
 */
export function securityHeaders(appUrl: string): Record<string, string> {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  helmet(helmetOptions(appUrl))(res.req, res, () => {});
  return Object.fromEntries(Object.entries(res.getHeaders()).map(([name, value]) => [name, String(value)]));
}
