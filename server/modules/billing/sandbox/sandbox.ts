import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { AppError } from '../../../../shared/errors.ts';
import type { BillingPlans } from '../../../../shared/schemas/billing.ts';
import type { Config } from '../../../config/env.ts';
import type { Logger } from '../../../platform/logger/logger.ts';
import { StripeTestServer, type StripeServerState } from './stripe-server.ts';

/**
 * The billing sandbox: Keel's Stripe-compatible server (the one the billing tests use) running inside the API
 * process, so that `npm start` without a Stripe account can subscribe, swap plans, cancel, resume, fail a payment
 * and walk dunning to suspension. The billing module talks to it through the real Stripe SDK, and it delivers its
 * events to `POST /webhooks/stripe` signed with the webhook secret exactly as Stripe signs them, so every path a
 * real account takes is taken. Nothing is charged: the configuration refuses the sandbox in production.
 */

export const SANDBOX_SECRET_KEY = 'sk_test_keelsandbox';
export const SANDBOX_WEBHOOK_SECRET = 'whsec_keelsandbox';

/** The plans the sandbox offers when STRIPE_PLANS is empty, with their monthly prices in cents. */
export const SANDBOX_PLANS: BillingPlans = {
  price_starter: { name: 'Starter', tier: 'professional', limits: { members: 5 } },
  price_team: { name: 'Team', tier: 'professional', limits: { members: 25 } },
  price_enterprise: { name: 'Enterprise', tier: 'enterprise', limits: { members: -1 } },
};
const SANDBOX_PRICES: Record<string, number> = {
  price_starter: 1_900,
  price_team: 4_900,
  price_enterprise: 19_900,
};

type Obj = Record<string, unknown> & { id: string };

interface SavedSandbox {
  version: 1;
  state: StripeServerState;
  /** Events recorded but not delivered yet (delivered on the next start). */
  pending: Obj[];
}

/** Delivery retries back off to this, and keep trying (Stripe retries for days; a dev server restarts). */
const MAX_BACKOFF_MS = 30_000;
/** A 4xx other than a retryable one means the endpoint refuses this event: give up after this many. */
const MAX_REFUSALS = 5;
const LIVE_FOR_FAILURE = new Set(['trialing', 'active', 'past_due', 'unpaid']);

export interface BillingSandboxOptions {
  logger: Logger;
  /** Keep the sandbox's state in this file between runs (`keel dev`, `keel seed`); memory only when absent. */
  stateFile?: string | null;
}

export class BillingSandbox {
  readonly server: StripeTestServer;
  private readonly logger: Logger;
  private readonly stateFile: string | null;
  private readonly pending: Obj[] = [];
  /** Ids of delivered events in delivery order, with their sequence numbers (the newest few hundred). */
  private readonly delivered: { seq: number; id: string }[] = [];
  private recorded = 0;
  private deliveredCount = 0;
  private target: string | null = null;
  private pumping = false;
  private closed = false;
  private saveTimer: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(opts: BillingSandboxOptions) {
    this.logger = opts.logger;
    this.stateFile = opts.stateFile ?? null;
    this.server = new StripeTestServer(SANDBOX_SECRET_KEY, { defaultCard: true });
    for (const [price, amount] of Object.entries(SANDBOX_PRICES)) this.server.prices.set(price, amount);
    this.server.onEvent = (event) => {
      this.recorded += 1;
      this.pending.push(event);
      // Tests read the server's event log; here the pending list and Keel's webhook log hold them, so it is trimmed.
      if (this.server.events.length > 1_000) this.server.events.splice(0, 500);
      this.scheduleSave();
      void this.pump();
    };
  }

  /** Starts the sandbox on a free loopback port, with the state of the last run when a state file is given. */
  static async start(opts: BillingSandboxOptions): Promise<BillingSandbox> {
    const sandbox = new BillingSandbox(opts);
    sandbox.load();
    await sandbox.server.start();
    opts.logger.warn(
      { stripeApi: sandbox.server.url, stateFile: sandbox.stateFile },
      'billing sandbox: payments are simulated by Keel, nothing is charged (set STRIPE_SECRET_KEY to use Stripe)',
    );
    return sandbox;
  }

  get url(): string {
    return this.server.url;
  }

  /** The configuration with billing pointed at the sandbox (its key, address, webhook secret and plans). */
  configure(config: Config): Config {
    const plans = Object.keys(config.billing.plans).length ? config.billing.plans : SANDBOX_PLANS;
    return {
      ...config,
      billing: {
        ...config.billing,
        stripeSecretKey: SANDBOX_SECRET_KEY,
        stripeApiBase: this.server.url,
        stripeWebhookSecret: SANDBOX_WEBHOOK_SECRET,
        plans,
      },
    };
  }

  /** Where to deliver webhooks: the API's base URL, known once it listens. Events recorded before wait for it. */
  deliverTo(baseUrl: string): void {
    this.target = new URL('/webhooks/stripe', baseUrl).toString();
    void this.pump();
  }

  /**
   * What "fail the next payment" means here: the subscription's renewal is charged now and declined (a trial
   * ends into it). Each call is one more failed attempt on the same open invoice, as Stripe's Smart Retries would
   * make, so four calls walk the dunning notices to suspension.
   */
  failNextPayment(subscriptionId: string): { invoiceId: string; attempt: number } {
    const sub = this.server.subscriptions.get(subscriptionId);
    if (!sub || !LIVE_FOR_FAILURE.has(String(sub.status))) {
      throw new AppError('CONFLICT', 'Only a live subscription has a payment to fail');
    }
    const { invoice } = this.server.failRenewal(subscriptionId);
    return { invoiceId: invoice.id, attempt: Number(invoice.attempt_count) };
  }

  /** A position in the event stream: `settle(mark)` waits for what was recorded after it. */
  mark(): number {
    return this.recorded;
  }

  /**
   * Waits until every event recorded so far is delivered and `processed` says Keel processed the ones recorded
   * after `mark`, or the timeout passes (without a worker nothing gets processed; the caller goes on). In the
   * sandbox a billing operation returns once its webhooks are applied, so the page shows their effect at once.
   */
  async settle(
    mark: number,
    processed: (eventIds: string[]) => Promise<boolean>,
    timeoutMs = 15_000,
  ): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    const goal = this.recorded;
    while (this.deliveredCount < goal) {
      if (Date.now() > until || this.closed) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          resolve();
        };
        this.waiters.add(done);
        setTimeout(done, 200).unref();
      });
    }
    const ids = this.delivered.filter((d) => d.seq > mark && d.seq <= goal).map((d) => d.id);
    while (ids.length && !(await processed(ids))) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.save();
    await this.server.close();
  }

  // ------------------------------------------------------------------------------------------ delivery

  private async pump(): Promise<void> {
    if (this.pumping || !this.target) return;
    this.pumping = true;
    try {
      let failures = 0;
      let refusals = 0;
      while (!this.closed && this.pending.length) {
        const event = this.pending[0]!;
        const outcome = await this.post(event);
        if (outcome === 'ok' || (outcome === 'refused' && ++refusals >= MAX_REFUSALS)) {
          if (outcome === 'refused')
            this.logger.error({ eventId: event.id }, 'billing sandbox: webhook refused, event dropped');
          this.pending.shift();
          this.deliveredCount += 1;
          this.delivered.push({ seq: this.deliveredCount, id: event.id });
          if (this.delivered.length > 500) this.delivered.splice(0, this.delivered.length - 500);
          failures = 0;
          refusals = 0;
          this.scheduleSave();
          for (const wake of [...this.waiters]) wake();
          continue;
        }
        failures += 1;
        await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures)).unref());
      }
    } finally {
      this.pumping = false;
    }
  }

  /** One delivery, signed as Stripe signs (`t=<time>,v1=<HMAC-SHA256 of "t.payload">`). */
  private async post(event: Obj): Promise<'ok' | 'retry' | 'refused'> {
    const payload = JSON.stringify(event);
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SANDBOX_WEBHOOK_SECRET });
    try {
      const res = await fetch(this.target!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks) keel-billing-sandbox',
        },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      if (res.ok) {
        this.logger.debug({ eventId: event.id, type: event.type }, 'billing sandbox: webhook delivered');
        return 'ok';
      }
      this.logger.warn(
        { eventId: event.id, type: event.type, status: res.status },
        'billing sandbox: webhook delivery failed, retrying',
      );
      return res.status >= 400 && res.status < 500 && res.status !== 429 ? 'refused' : 'retry';
    } catch (err) {
      this.logger.warn(
        { eventId: event.id, type: event.type, err: (err as Error).message },
        'billing sandbox: webhook delivery failed, retrying',
      );
      return 'retry';
    }
  }

  // --------------------------------------------------------------------------------------- persistence

  private load(): void {
    if (!this.stateFile) return;
    let saved: SavedSandbox;
    try {
      saved = JSON.parse(readFileSync(this.stateFile, 'utf8')) as SavedSandbox;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(
          { stateFile: this.stateFile, err: (err as Error).message },
          'billing sandbox: state unreadable, starting empty',
        );
      }
      return;
    }
    if (saved.version !== 1) return;
    this.server.restore(saved.state);
    this.pending.push(...saved.pending);
    this.recorded = saved.pending.length;
  }

  private scheduleSave(): void {
    if (!this.stateFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.save();
    }, 200);
    this.saveTimer.unref();
  }

  private save(): void {
    if (!this.stateFile) return;
    const saved: SavedSandbox = { version: 1, state: this.server.snapshot(), pending: this.pending };
    mkdirSync(path.dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(saved));
    renameSync(tmp, this.stateFile);
  }
}
