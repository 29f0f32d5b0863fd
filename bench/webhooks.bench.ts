import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import Stripe from 'stripe';
import { z } from 'zod';
import { buildApp } from '../server/app.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createAccount } from '../server/modules/auth/auth.service.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { StripeEvent } from '../server/modules/billing/billing.entity.ts';
import { subscribe } from '../server/modules/billing/billing.service.ts';
import { createStripeClient } from '../server/modules/billing/stripe.ts';
import { StripeTestServer } from '../server/modules/billing/sandbox/stripe-server.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { defineJob } from '../server/platform/queue/definition.ts';
import { JobRegistry } from '../server/platform/queue/registry.ts';
import { queueSettingsFor } from '../server/platform/queue/settings.ts';
import { QueueSystem } from '../server/platform/queue/system.ts';
import { Worker } from '../server/platform/queue/worker.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { printFigures } from './lib.ts';

// Stripe webhooks, end to end on this machine:
// - ingestion: signed events POSTed to /webhooks/stripe by 32 concurrent clients (verify on the raw body, store in
//   PostgreSQL, queue on `webhooks`), against a bare Fastify raw-body route answering 200 with the same client;
// - processing: the stored events worked off by a worker (row lock, re-fetch of the subscription from a local
//   Stripe-compatible server, mirror write, processed_at), against no-op jobs through the same queue layer.
// The Stripe server, API, worker, client, PostgreSQL and Redis all share the machine's cores.

const EVENTS = 3_000;
const CLIENTS = 32;
const ORGS = 20;
const WORKER_CONCURRENCY = 20;
const SECRET = 'whsec_benchsecret';

const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const step = (what: string) => {
  if (process.env.BENCH_DEBUG) process.stderr.write(`  ${what} (${Math.round(now())} ms)\n`);
};

async function post(url: string, bodies: { payload: string; signature: string }[]): Promise<number> {
  let next = 0;
  let failed = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++]!;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': b.signature },
          body: b.payload,
        });
        await res.arrayBuffer();
        if (res.status !== 200) failed += 1;
      }
    }),
  );
  if (failed) throw new Error(`${url}: ${failed} requests failed`);
  return (bodies.length / (now() - t0)) * 1000;
}

export async function run(): Promise<void> {
  const bench = await createBenchEnvironment('wh');
  const prefix = bench.env.KEY_PREFIX!;
  const stripe = await new StripeTestServer().start();
  const config = parseConfig({
    ...bench.env,
    DB_POOL_MAX: '20',
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: SECRET,
    STRIPE_API_BASE: stripe.url,
    STRIPE_PLANS: JSON.stringify({ price_bench: { name: 'Bench', tier: 'professional', limits: {} } }),
  });
  const deps = await createDeps(config, {
    logger: createLogger({ level: process.env.BENCH_DEBUG ? 'warn' : 'silent', pretty: false }),
  });

  step('deps ready');
  // Organizations with a subscription each at the Stripe server; events are about these subscriptions.
  const sdk = createStripeClient(config.billing);
  const subscriptions: string[] = [];
  for (let i = 0; i < ORGS; i++) {
    const { organizationId } = await createAccount(deps.em, {
      email: `bench-${i}@example.test`,
      passwordHash: await hashPassword('bench-password-123'),
      name: 'Bench',
      organizationName: `Bench ${i}`,
    });
    const res = await withDbScope(deps.em, organizationId, (em) =>
      subscribe({ em, config, stripe: sdk, organizationId }, { price: 'price_bench', quantity: 1 }),
    );
    subscriptions.push(res.subscription.stripeId);
  }
  const bodies = Array.from({ length: EVENTS }, (_, i) => {
    const sub = stripe.subscriptions.get(subscriptions[i % ORGS]!)!;
    const payload = JSON.stringify({
      id: `evt_bench_${i}_${randomBytes(4).toString('hex')}`,
      object: 'event',
      api_version: '2026-10-28.endive',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      type: 'customer.subscription.updated',
      data: { object: sub },
    });
    return { payload, signature: Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }) };
  });

  step('organizations subscribed');
  // Baseline: a bare Fastify route with the same raw-body parser, same client.
  const bare = Fastify();
  bare.removeAllContentTypeParsers();
  bare.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  bare.post('/webhooks/stripe', async () => ({ received: true }));
  await bare.listen({ port: 0, host: '127.0.0.1' });
  const bareUrl = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/webhooks/stripe`;
  await post(bareUrl, bodies.slice(0, 500));
  const bareRate = await post(bareUrl, bodies);
  await bare.close();

  step('baseline measured');
  const app = await buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/stripe`;
  // Warm-up on events that are then part of the backlog (duplicates are answered without a second store).
  await post(url, bodies.slice(0, 200));
  const ingestRate = await post(url, bodies.slice(200));
  const stored = await withDbScope(deps.em, undefined, (em) => em.count(StripeEvent, {}));
  if (stored !== EVENTS) throw new Error(`expected ${EVENTS} stored events, found ${stored}`);

  step('ingested');
  // Processing: the backlog of EVENTS queued jobs, worked off from a cold start.
  const worker = new Worker(deps.queue, { queues: ['webhooks'], concurrency: WORKER_CONCURRENCY });
  const p0 = now();
  await worker.start();
  for (;;) {
    const done = await withDbScope(deps.em, undefined, (em) =>
      em.count(StripeEvent, { processedAt: { $ne: null } }),
    );
    if (done >= EVENTS) break;
    if (now() - p0 > 90_000) {
      if (process.env.BENCH_DEBUG)
        process.stderr.write(
          JSON.stringify(worker.info().running.slice(0, 3)) + ` running=${worker.runner.running.size}\n`,
        );
      throw new Error(`processing stalled at ${done}/${EVENTS}`);
    }
    await sleep(20);
  }
  const processRate = (EVENTS / (now() - p0)) * 1000;
  await worker.stop(2_000);

  step('processed');
  // Baseline: as many no-op jobs on the same queue layer, dispatched one by one as the route does.
  let noops = 0;
  const noop = defineJob({
    name: 'bench.noop',
    queue: 'webhooks',
    payload: z.object({ i: z.number() }),
    handle: () => void (noops += 1),
  });
  const system = new QueueSystem({
    config: { ...config, keyPrefix: `${prefix}noop:` },
    redis: deps.redis.get('queue'),
    em: deps.em,
    logger: deps.logger,
    registry: new JobRegistry().register(noop),
    settings: queueSettingsFor('production'),
  });
  for (let i = 0; i < EVENTS; i++) await system.dispatch(noop, { i }, { organizationId: null });
  const noopWorker = new Worker(system, {
    queues: ['webhooks'],
    concurrency: WORKER_CONCURRENCY,
    leader: false,
  });
  const n0 = now();
  await noopWorker.start();
  while (noops < EVENTS) await sleep(5);
  const noopRate = (EVENTS / (now() - n0)) * 1000;
  await noopWorker.stop(2_000);
  await system.close();

  await app.close();
  await deps.close();
  await stripe.close();
  await bench.cleanup();

  printFigures('webhooks', [
    {
      name: 'ingest_events_per_s',
      value: Math.round(ingestRate),
      unit: 'events/s',
      baseline: Math.round(bareRate),
      goal: 'higher; baseline bare Fastify raw-body 200',
    },
    {
      name: 'process_events_per_s',
      value: Math.round(processRate),
      unit: 'events/s',
      baseline: Math.round(noopRate),
      goal: 'higher; baseline no-op jobs on the same queue',
    },
  ]);
}
