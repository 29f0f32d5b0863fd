import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';
import { QueueKeys } from '../queue/keys.ts';

// Issue 8: a request's trace id is in its log line, in the job it dispatched and in the job's log lines. One
// `keel dev` process (API and worker together) with tracing on; a signed Stripe webhook queues a job.

const SECRET = 'whsec_trace_test_secret';
const prefix = `keel:test:jobtrace${Date.now()}:`;
const keys = new QueueKeys(prefix);
let child: ChildProcess;
let collector: Server;
let redis: Redis;
let baseUrl: string;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  // Spans go to a collector that accepts and drops them: this test reads trace ids from logs and Redis.
  collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  redis = new Redis(TEST_REDIS_URL);
  // The worker starts with `webhooks` paused, so the queued job can be read before it runs.
  await redis.sadd(keys.paused(), 'webhooks');
  child = spawn('node_modules/.bin/tsx', ['--import', './server/instrument.ts', 'server/main.ts', 'dev'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      DATABASE_URL: inject('databaseUrl'),
      REDIS_URL: TEST_REDIS_URL,
      KEY_PREFIX: prefix,
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      SEED_DEMO: 'false',
      STRIPE_WEBHOOK_SECRET: SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      SESSION_SECRET: 'job-trace-test-session-secret-0123456789',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  baseUrl = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const complete = buf.slice(0, buf.lastIndexOf('\n') + 1);
      buf = buf.slice(complete.length);
      for (const line of complete.split('\n')) {
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
        const m = /Keel is running at (http:\/\/\S+)/.exec(line);
        if (m) resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`keel dev exited with ${code}`)));
    setTimeout(() => reject(new Error('keel dev did not start')), 40_000);
  });
}, 60_000);

afterAll(async () => {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  collector.close();
  await redis.quit();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Posts a signed Stripe event (queued on the paused `webhooks` queue), then returns the trace ids seen on the way. */
async function webhookThroughJob(requestId: string, headers: Record<string, string> = {}) {
  const eventId = `evt_trace_${Date.now()}_${requestId}`;
  const payload = JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'customer.updated',
    data: { object: { id: 'cus_nobody', object: 'customer' } },
  });
  const pausedAt = Date.now();
  await redis.sadd(keys.paused(), 'webhooks');
  // Workers apply a pause at their heartbeat: wait for a heartbeat after this one that reports the consumer paused
  // (an older report may still say paused from before the last resume).
  await until(async () => {
    const workers = Object.values(await redis.hgetall(keys.workers())).map(
      (raw) =>
        JSON.parse(raw) as {
          lastSeenAt: number;
          supervisors: { queues: { queue: string; paused: boolean }[] }[];
        },
    );
    const fresh = workers.filter((w) => w.lastSeenAt > pausedAt);
    const webhooks = fresh
      .flatMap((w) => w.supervisors.flatMap((sv) => sv.queues))
      .filter((c) => c.queue === 'webhooks');
    return fresh.length > 0 && webhooks.length > 0 && webhooks.every((c) => c.paused);
  }, 'the webhooks queue to be paused');
  const res = await fetch(`${baseUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-request-id': requestId,
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
      ...headers,
    },
    body: payload,
  });
  expect(res.status).toBe(200);

  const request = await until(
    () => lines.find((l) => l.msg === 'request' && l.requestId === requestId),
    'the request log line',
  );
  // The queued job: bee's record holds Keel's envelope, whose traceparent continues the request's trace.
  const jobs = await redis.hgetall(keys.beeKey('webhooks', 'jobs'));
  const queued = Object.entries(jobs).map(([id, raw]) => ({
    id,
    env: (JSON.parse(raw) as { data: { name: string; trace: string; payload: { eventId: string } } }).data,
  }));
  const job = queued.find((j) => j.env.payload.eventId === eventId);
  expect(job?.env.name).toBe('billing.stripe-event');

  await redis.srem(keys.paused(), 'webhooks');
  const jobLine = await until(
    () => lines.find((l) => l.msg === 'job' && l.jobId === job!.id),
    'the job log line',
  );
  // A line the handler itself wrote (inside the job's consumer span).
  const handlerLine = lines.find(
    (l) => l.msg === 'Stripe event for an unknown customer' && l.eventId === eventId,
  );
  return { request, jobTrace: job!.env.trace, jobLine, handlerLine };
}

describe('a trace through a job', () => {
  it('the request, the job it queued and the job’s log lines carry one trace id', async () => {
    const seen = await webhookThroughJob('traced-webhook-1');
    const traceId = seen.request.traceId as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.jobTrace.split('-')[1]).toBe(traceId);
    expect(seen.jobTrace.split('-')[3]).toBe('01');
    expect(seen.jobLine).toMatchObject({ traceId, job: 'billing.stripe-event', status: 'completed' });
    expect(seen.handlerLine).toMatchObject({ traceId });
  }, 60_000);

  it('a trace the caller did not sample keeps its id through the job, still unsampled', async () => {
    // Unrecorded work carries no active span (so pg/ioredis skip it); the id must still reach logs and the job.
    const callerTrace = '0af7651916cd43dd8448eb211c80319c';
    const seen = await webhookThroughJob('untraced-webhook-1', {
      traceparent: `00-${callerTrace}-b7ad6b7169203331-00`,
    });
    expect(seen.request.traceId).toBe(callerTrace);
    expect(seen.jobTrace).toMatch(new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-00$`));
    expect(seen.jobLine).toMatchObject({ traceId: callerTrace, status: 'completed' });
    expect(seen.handlerLine).toMatchObject({ traceId: callerTrace });
  }, 60_000);
});
