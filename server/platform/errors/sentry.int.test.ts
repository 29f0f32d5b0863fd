import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';

/** Stands in for Sentry's ingestion endpoint: collects envelope items. */
async function sentryReceiver() {
  const items: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      for (const line of body.toString().split('\n').filter(Boolean)) {
        try {
          items.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* attachments are not JSON */
        }
      }
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, items, port: (server.address() as AddressInfo).port };
}

let sentry: Awaited<ReturnType<typeof sentryReceiver>>;
let env: TestEnv;

beforeAll(async () => {
  sentry = await sentryReceiver();
  env = await createTestEnv({ SENTRY_DSN: `http://public@127.0.0.1:${sentry.port}/1` });
});
afterAll(async () => {
  await env.close();
  sentry.server.close();
});

describe('Sentry reporting', () => {
  it('sends unexpected exceptions with secrets, tokens and card numbers scrubbed', async () => {
    env.deps.observability.recordException(
      new Error(
        'charge failed for 4242 4242 4242 4242 with keel_AbCdEfGhIjKlMnOpQrStUvWxYz012345 password=hunter2',
      ),
    );
    await env.deps.observability.stop();
    const event = sentry.items.find((i) =>
      Array.isArray((i.exception as { values?: unknown[] } | undefined)?.values),
    );
    expect(event).toBeDefined();
    const text = JSON.stringify(event);
    expect(text).toContain('charge failed for');
    expect(text).not.toMatch(/4242 4242|keel_AbCd|hunter2/);
  });

  it("keeps credentials out of the console's exception list too", async () => {
    const obs = env.deps.observability;
    obs.recordException(
      new RangeError(
        'fetch http://localhost:3000/files/eA?expires=1&signature=c2lnbmF0dXJlc2lnbmF0dXJl failed for keel_AbCdEfGhIjKlMnOpQrStUvWxYz012345',
      ),
    );
    await obs.console.flush();
    const group = (await obs.console.listGroups('exc')).find((g) => g.key.startsWith('RangeError'));
    expect(group?.sample).toContain('failed for');
    expect(group?.sample).not.toMatch(/c2lnbmF0dXJl|keel_AbCd/);
  });
});
