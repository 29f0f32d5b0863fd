import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';

interface OtlpSpan {
  traceId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

/** A stand-in OpenTelemetry collector: accepts OTLP/HTTP JSON trace exports and keeps the spans. */
async function collector() {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as {
        resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const prefix = `keel:test:trace${Date.now()}:`;
let otel: Awaited<ReturnType<typeof collector>>;
let server: Awaited<ReturnType<typeof startServer>>;

/** `keel serve` in a child process, loaded as in production (`--import ./server/instrument.ts`), exporting to `otel`. */
async function startServer(extraEnv: Record<string, string> = {}) {
  const lines: Record<string, unknown>[] = [];
  const child = spawn(
    'node_modules/.bin/tsx',
    ['--import', './server/instrument.ts', 'server/main.ts', 'serve'],
    {
      env: {
        ...process.env,
        NODE_ENV: 'test',
        PORT: '0',
        DATABASE_URL: inject('databaseUrl'),
        REDIS_URL: TEST_REDIS_URL,
        KEY_PREFIX: prefix,
        LOG_LEVEL: 'info',
        LOG_PRETTY: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: otel.url,
        SESSION_SECRET: 'tracing-test-session-secret-0123456789',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (line.startsWith('{')) {
          try {
            lines.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            /* a partial line; the next chunk completes it */
          }
        }
        const m = /Keel is running at (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]!);
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}`)));
    setTimeout(() => reject(new Error('server did not start')), 25_000);
  });
  return {
    url,
    lines,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

beforeAll(async () => {
  otel = await collector();
  // Batches sent every 250 ms instead of every 5 s, so that the tests wait less.
  server = await startServer({ OTEL_BSP_SCHEDULE_DELAY: '250' });
}, 40_000);

afterAll(async () => {
  await server?.stop();
  otel.server.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

describe('tracing', () => {
  it('gives a request one trace: its HTTP span, its PostgreSQL spans and its log line', async () => {
    const res = await fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'traced-request-1' },
      body: JSON.stringify({ json: { email: 'nobody@example.test', password: 'whatever-password' } }),
    });
    expect(res.status).toBe(401);
    // The batch span processor exports every 250 ms here.
    const deadline = Date.now() + 15_000;
    let log: Record<string, unknown> | undefined;
    let traceSpans: OtlpSpan[] = [];
    while (Date.now() < deadline) {
      log = server.lines.find((l) => l.msg === 'request' && l.requestId === 'traced-request-1');
      const traceId = log?.traceId as string | undefined;
      traceSpans = traceId ? otel.spans.filter((s) => s.traceId === traceId) : [];
      if (
        traceSpans.some((s) => s.kind === 2) &&
        traceSpans.some((s) => /select/i.test(JSON.stringify(s.attributes))) &&
        traceSpans.some((s) => /"redis"/.test(JSON.stringify(s.attributes)))
      ) {
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(log?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const kinds = traceSpans.map((s) => s.kind);
    expect(kinds).toContain(2); // SERVER: the HTTP request
    const attrs = traceSpans.map((s) => JSON.stringify(s.attributes)).join('\n');
    expect(attrs).toMatch(/postgresql/);
    expect(attrs).toMatch(/from \\?"users\\?"/);
    // The sign-in rate limit's Redis script: ioredis is imported as ESM, so this needs the import hook.
    expect(
      traceSpans.filter((s) => s.kind === 3 && /"redis"/.test(JSON.stringify(s.attributes))),
    ).not.toEqual([]);
    // Named by route template (never the raw path), with the procedure as an attribute and the status on it.
    const serverSpan = traceSpans.find((s) => s.kind === 2)!;
    expect(serverSpan.name).toBe('POST /trpc/:path');
    const attr = (k: string) => serverSpan.attributes.find((a) => a.key === k)?.value;
    expect(attr('rpc.method')?.stringValue).toBe('auth.signIn');
    expect(Number(attr('http.response.status_code')?.intValue)).toBe(401);
  }, 30_000);

  it("continues a caller's trace from its traceparent header; probes are not traced", async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    await fetch(`${server.url}/livez`);
    const res = await fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'traced-request-2',
        traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({ json: { email: 'nobody@example.test', password: 'whatever-password' } }),
    });
    expect(res.status).toBe(401);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !otel.spans.some((s) => s.traceId === callerTrace && s.kind === 2)) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(otel.spans.filter((s) => s.traceId === callerTrace && s.kind === 2)).toHaveLength(1);
    expect(server.lines.find((l) => l.requestId === 'traced-request-2' && l.msg === 'request')?.traceId).toBe(
      callerTrace,
    );
    expect(otel.spans.some((s) => JSON.stringify(s.attributes).includes('/livez'))).toBe(false);
  }, 30_000);

  it('records nothing for a trace the caller left unsampled, yet logs its trace id', async () => {
    const unsampled = '0af7651916cd43dd8448eb211c80319c';
    const signIn = (requestId: string, traceparent: string) =>
      fetch(`${server.url}/trpc/auth.signIn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': requestId, traceparent },
        body: JSON.stringify({ json: { email: 'nobody@example.test', password: 'whatever-password' } }),
      });
    expect((await signIn('unsampled-request-1', `00-${unsampled}-b7ad6b7169203331-00`)).status).toBe(401);
    // A sampled request after it: once its spans have arrived, the batch holding anything of the first has too.
    const barrier = '5bf92f3577b34da6a3ce929d0e0e4737';
    expect((await signIn('sampled-request-3', `00-${barrier}-00f067aa0ba902b7-01`)).status).toBe(401);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !otel.spans.some((s) => s.traceId === barrier && s.kind === 2)) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(otel.spans.some((s) => s.traceId === barrier && s.kind === 2)).toBe(true);
    expect(
      server.lines.find((l) => l.requestId === 'unsampled-request-1' && l.msg === 'request')?.traceId,
    ).toBe(unsampled);
    expect(otel.spans.filter((s) => s.traceId === unsampled)).toEqual([]);
    // Its PostgreSQL and Redis calls did not start traces of their own either: every client span has a parent.
    expect(otel.spans.filter((s) => s.kind === 3 && !s.parentSpanId)).toEqual([]);
  }, 30_000);

  it('sends the spans still in the batch when the process shuts down', async () => {
    // A batch delay far longer than the test: only the shutdown can have sent these spans.
    const late = await startServer({ OTEL_BSP_SCHEDULE_DELAY: '600000' });
    const traceId = '6cf92f3577b34da6a3ce929d0e0e4738';
    const res = await fetch(`${late.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ json: { email: 'nobody@example.test', password: 'whatever-password' } }),
    });
    expect(res.status).toBe(401);
    expect(otel.spans.filter((s) => s.traceId === traceId)).toEqual([]);
    expect(await late.stop()).toBe(0);
    const spans = otel.spans.filter((s) => s.traceId === traceId);
    expect(spans.filter((s) => s.kind === 2)).toHaveLength(1);
    expect(spans.some((s) => /from \\?"users\\?"/.test(JSON.stringify(s.attributes)))).toBe(true);
  }, 40_000);
});
