import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Stripe-compatible HTTP server for tests, benchmarks and the development billing sandbox (./sandbox.ts):
 * stateful customers, subscriptions, invoices,
 * payment methods and billing portal sessions, Stripe's error shapes, and Idempotency-Key semantics (same key and
 * same parameters → the first response again; same key, other parameters → idempotency_error). The real `stripe`
 * SDK talks to it through `host`/`port`/`protocol: 'http'`.
 *
 * It records the events Stripe would send (`events`) so tests can sign and deliver them, and offers the
 * test-clock-like helpers Stripe's dashboard would (fail a renewal, pay an invoice) plus fault injection.
 */

type Obj = Record<string, unknown> & { id: string };
type Params = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  stripeVersion: string | null;
  replayed: boolean;
}

export interface Fault {
  method: string;
  /** Requests whose path starts with this. */
  path: string;
  times: number;
  /** `status500`: answer 500 without doing anything; `drop`: do the work, then cut the connection (lost response). */
  mode: 'status500' | 'drop';
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
    readonly declineCode?: string,
  ) {
    super(message);
  }
}

/** Everything the server knows except its event log: what the sandbox keeps across restarts. */
export interface StripeServerState {
  customers: Obj[];
  subscriptions: Obj[];
  invoices: Obj[];
  paymentMethods: Obj[];
  setupIntents: Obj[];
  prices: [string, number][];
  clockOffset: number;
  idempotency: [string, { fingerprint: string; status: number; body: string }][];
}

export interface StripeServerOptions {
  /**
   * Every new customer gets a working test card as its default payment method, as if its owner had entered
   * 4242 4242 4242 4242 at checkout (the sandbox has no Stripe.js to collect one).
   */
  defaultCard?: boolean;
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const DAY = 86_400;

/** Decodes Stripe's form encoding (`items[0][price]=x&expand[0]=y`) into nested objects and arrays. */
export function parseForm(body: string): Params {
  const root: Params = {};
  for (const pair of body.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    const path = rawKey.replace(/\]/g, '').split('[');
    let node: Params = root;
    path.forEach((seg, i) => {
      const key = seg === '' ? String(Object.keys(node).length) : seg;
      if (i === path.length - 1) node[key] = value;
      else node = (node[key] ??= {}) as Params;
    });
  }
  const arrays = (v: unknown): unknown => {
    if (!v || typeof v !== 'object') return v;
    const o = v as Params;
    const keys = Object.keys(o);
    if (keys.length && keys.every((k, i) => k === String(i))) return keys.map((k) => arrays(o[k]));
    return Object.fromEntries(keys.map((k) => [k, arrays(o[k])]));
  };
  return arrays(root) as Params;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'string' && v !== '' ? Number(v) : undefined);
const bool = (v: unknown): boolean | undefined => (v === 'true' ? true : v === 'false' ? false : undefined);

export class StripeTestServer {
  readonly customers = new Map<string, Obj>();
  readonly subscriptions = new Map<string, Obj>();
  readonly invoices = new Map<string, Obj>();
  readonly paymentMethods = new Map<string, Obj>();
  readonly setupIntents = new Map<string, Obj>();
  readonly portalSessions = new Map<string, Obj>();
  /** Events Stripe would have sent, oldest first. */
  readonly events: Obj[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Proration behaviour of each plan change, for assertions. */
  readonly planChanges: { subscription: string; from: string; to: string; proration: string }[] = [];
  /** Price amounts in cents; unknown prices cost 1000. */
  readonly prices = new Map<string, number>();
  /** Seconds added to the real clock (a test clock). */
  clockOffset = 0;
  private readonly idempotency = new Map<string, { fingerprint: string; status: number; body: string }>();
  private readonly faults: Fault[] = [];
  private server: Server | null = null;
  port = 0;

  /** Called with every event as it is recorded (the sandbox delivers them as webhooks). */
  onEvent: ((event: Obj) => void) | null = null;

  constructor(
    readonly secretKey = 'sk_test_keel',
    private readonly options: StripeServerOptions = {},
  ) {}

  snapshot(): StripeServerState {
    return {
      customers: [...this.customers.values()],
      subscriptions: [...this.subscriptions.values()],
      invoices: [...this.invoices.values()],
      paymentMethods: [...this.paymentMethods.values()],
      setupIntents: [...this.setupIntents.values()],
      prices: [...this.prices],
      clockOffset: this.clockOffset,
      idempotency: [...this.idempotency],
    };
  }

  restore(state: StripeServerState): void {
    const fill = (map: Map<string, Obj>, rows: Obj[]) => {
      map.clear();
      for (const row of rows) map.set(row.id, row);
    };
    fill(this.customers, state.customers);
    fill(this.subscriptions, state.subscriptions);
    fill(this.invoices, state.invoices);
    fill(this.paymentMethods, state.paymentMethods);
    fill(this.setupIntents, state.setupIntents);
    this.prices.clear();
    for (const [price, amount] of state.prices) this.prices.set(price, amount);
    this.clockOffset = state.clockOffset;
    this.idempotency.clear();
    for (const [key, seen] of state.idempotency) this.idempotency.set(key, seen);
  }

  now(): number {
    return Math.floor(Date.now() / 1000) + this.clockOffset;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  fail(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** Events of one type (optionally about one object), oldest first. */
  eventsOf(type: string, objectId?: string): Obj[] {
    return this.events.filter(
      (e) => e.type === type && (!objectId || (e.data as { object: Obj }).object.id === objectId),
    );
  }

  // ----------------------------------------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stripe.test');
    const method = req.method ?? 'GET';
    const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      idempotencyKey: key,
      stripeVersion: (req.headers['stripe-version'] as string | undefined) ?? null,
      replayed: false,
    };
    this.requests.push(record);
    const fault = this.faults.find(
      (f) => f.method === method && url.pathname.startsWith(f.path) && f.times > 0,
    );
    const send = (status: number, payload: string, replayed = false) => {
      if (fault?.mode === 'drop') {
        // The work is done (and remembered under the idempotency key); only the answer is lost.
        fault.times -= 1;
        req.socket.destroy();
        return;
      }
      res.writeHead(status, {
        'content-type': 'application/json',
        'request-id': id('req'),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        ...(key ? { 'idempotency-key': key } : {}),
      });
      res.end(payload);
    };
    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      return send(
        401,
        JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }),
      );
    }
    if (fault?.mode === 'status500') {
      fault.times -= 1;
      return send(500, JSON.stringify({ error: { type: 'api_error', message: 'Injected failure' } }));
    }
    const fingerprint = `${method} ${url.pathname} ${body}`;
    if (key && method !== 'GET') {
      const seen = this.idempotency.get(key);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          return send(
            400,
            JSON.stringify({
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
              },
            }),
          );
        }
        record.replayed = true;
        return send(seen.status, seen.body, true);
      }
    }
    const params = method === 'GET' || method === 'DELETE' ? parseForm(url.search.slice(1)) : parseForm(body);
    let status = 200;
    let payload: string;
    try {
      payload = JSON.stringify(this.route(method, url.pathname, params));
    } catch (err) {
      if (!(err instanceof StripeApiError)) throw err;
      status = err.status;
      payload = JSON.stringify({
        error: {
          type: err.type,
          message: err.message,
          ...(err.code ? { code: err.code } : {}),
          ...(err.param ? { param: err.param } : {}),
          ...(err.declineCode ? { decline_code: err.declineCode } : {}),
        },
      });
    }
    if (key && method !== 'GET' && status < 500)
      this.idempotency.set(key, { fingerprint, status, body: payload });
    send(status, payload);
  }

  private route(method: string, path: string, p: Params): unknown {
    const parts = path.split('/').filter(Boolean);
    if (parts[0] !== 'v1')
      throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${path})`);
    const [, resource, rid, action] = parts;
    const expand = (obj: Obj) => this.expand(obj, (p.expand as string[] | undefined) ?? []);
    switch (`${method} ${resource}${rid ? '/:id' : ''}${action ? `/${action}` : ''}`) {
      case 'POST customers':
        return this.createCustomer(p);
      case 'GET customers/:id':
        return expand(this.get(this.customers, rid!, 'customer'));
      case 'POST customers/:id':
        return this.updateCustomer(rid!, p);
      case 'POST subscriptions':
        return expand(this.createSubscription(p));
      case 'GET subscriptions/:id':
        return expand(this.get(this.subscriptions, rid!, 'subscription'));
      case 'POST subscriptions/:id':
        return expand(this.updateSubscription(rid!, p));
      case 'DELETE subscriptions/:id':
        return expand(this.cancelSubscription(rid!));
      case 'GET subscriptions':
        return this.list(
          [...this.subscriptions.values()].filter((s) => !p.customer || s.customer === p.customer),
          p,
        );
      case 'GET invoices':
        return this.list(
          [...this.invoices.values()].filter(
            (i) => (!p.customer || i.customer === p.customer) && (!p.status || i.status === p.status),
          ),
          p,
        );
      case 'GET invoices/:id':
        return expand(this.get(this.invoices, rid!, 'invoice'));
      case 'POST invoices/:id/pay':
        return expand(this.payInvoiceRequest(rid!));
      case 'POST payment_methods':
        return this.createPaymentMethod(p);
      case 'POST payment_methods/:id/attach':
        return this.attachPaymentMethod(rid!, p);
      case 'POST payment_methods/:id/detach':
        return this.detachPaymentMethod(rid!);
    }
    if (method === 'POST' && resource === 'billing_portal' && rid === 'sessions')
      return this.createPortalSession(p);
    throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path})`);
  }

  private get(map: Map<string, Obj>, rid: string, kind: string): Obj {
    const obj = map.get(rid);
    if (!obj)
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `No such ${kind}: '${rid}'`,
        'resource_missing',
        'id',
      );
    return obj;
  }

  private list(items: Obj[], p: Params) {
    const limit = int(p.limit) ?? 10;
    const sorted = [...items].sort((a, b) => (b.created as number) - (a.created as number));
    return { object: 'list', data: sorted.slice(0, limit), has_more: sorted.length > limit, url: '/v1/list' };
  }

  private expand(obj: Obj, paths: string[]): Obj {
    const copy = structuredClone(obj);
    const lookup = (v: string): Obj | undefined =>
      this.invoices.get(v) ??
      this.setupIntents.get(v) ??
      this.customers.get(v) ??
      this.subscriptions.get(v) ??
      this.paymentMethods.get(v);
    for (const path of paths) {
      let node: Record<string, unknown> = copy;
      for (const seg of path.split('.')) {
        const v = node[seg];
        if (typeof v === 'string') {
          const found = lookup(v);
          if (!found) break;
          node[seg] = structuredClone(found);
        }
        if (!node[seg] || typeof node[seg] !== 'object') break;
        node = node[seg] as Record<string, unknown>;
      }
    }
    return copy;
  }

  emit(type: string, object: Obj, previous?: Record<string, unknown>): Obj {
    const event: Obj = {
      id: id('evt'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: this.now(),
      data: { object: structuredClone(object), ...(previous ? { previous_attributes: previous } : {}) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    this.events.push(event);
    this.onEvent?.(event);
    return event;
  }

  // ------------------------------------------------------------------------------------------ resources

  private createCustomer(p: Params): Obj {
    const c: Obj = {
      id: id('cus'),
      object: 'customer',
      created: this.now(),
      name: str(p.name) ?? null,
      email: str(p.email) ?? null,
      metadata: (p.metadata as Params | undefined) ?? {},
      invoice_settings: { default_payment_method: null },
      livemode: false,
    };
    this.customers.set(c.id, c);
    if (this.options.defaultCard) {
      const pm = this.createPaymentMethod({ type: 'card', card: { token: 'tok_visa' } });
      pm.customer = c.id;
      c.invoice_settings = { default_payment_method: pm.id };
    }
    this.emit('customer.created', c);
    return c;
  }

  private updateCustomer(cid: string, p: Params): Obj {
    const c = this.get(this.customers, cid, 'customer');
    if (p.name !== undefined) c.name = str(p.name) ?? null;
    if (p.email !== undefined) c.email = str(p.email) || null;
    if (p.metadata) c.metadata = { ...(c.metadata as Params), ...(p.metadata as Params) };
    const pm = str((p.invoice_settings as Params | undefined)?.default_payment_method);
    if (pm !== undefined) {
      if (pm && this.paymentMethods.get(pm)?.customer !== cid) {
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `No such PaymentMethod: '${pm}'`,
          'resource_missing',
        );
      }
      c.invoice_settings = { default_payment_method: pm || null };
    }
    this.emit('customer.updated', c);
    return c;
  }

  private priceAmount(price: string): number {
    return this.prices.get(price) ?? 1000;
  }

  private createInvoice(sub: Obj, amount: number, status: 'paid' | 'open', reason: string): Obj {
    const item = (sub.items as { data: Obj[] }).data[0]!;
    const inv: Obj = {
      id: id('in'),
      object: 'invoice',
      created: this.now(),
      customer: sub.customer,
      number: `KEEL-${String(this.invoices.size + 1).padStart(4, '0')}`,
      status,
      amount_due: amount,
      amount_paid: status === 'paid' ? amount : 0,
      amount_remaining: status === 'paid' ? 0 : amount,
      currency: 'usd',
      attempt_count: 0,
      attempted: status === 'paid',
      billing_reason: reason,
      collection_method: 'charge_automatically',
      hosted_invoice_url: `https://invoice.stripe.test/${randomBytes(6).toString('hex')}`,
      invoice_pdf: `https://invoice.stripe.test/${randomBytes(6).toString('hex')}.pdf`,
      last_finalization_error: null,
      period_start: item.current_period_start,
      period_end: item.current_period_end,
      parent: {
        type: 'subscription_details',
        quote_details: null,
        subscription_details: { subscription: sub.id, metadata: sub.metadata },
      },
      confirmation_secret:
        status === 'open'
          ? { client_secret: `pi_${randomBytes(8).toString('hex')}_secret_x`, type: 'payment_intent' }
          : null,
      lines: { object: 'list', data: [], has_more: false, url: '/v1/invoices/lines' },
      livemode: false,
      metadata: {},
    };
    this.invoices.set(inv.id, inv);
    return inv;
  }

  private createSubscription(p: Params): Obj {
    const customer = str(p.customer);
    if (!customer)
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: customer.',
        'parameter_missing',
        'customer',
      );
    const cust = this.get(this.customers, customer, 'customer');
    const items = (p.items as Params[] | undefined) ?? [];
    const first = items[0];
    const price = str(first?.price);
    if (!price)
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: items[0][price].',
        'parameter_missing',
        'items',
      );
    const now = this.now();
    const trialDays = int(p.trial_period_days) ?? 0;
    const trialEnd = trialDays > 0 ? now + trialDays * DAY : null;
    const periodEnd = trialEnd ?? now + 30 * DAY;
    const sub: Obj = {
      id: id('sub'),
      object: 'subscription',
      created: now,
      start_date: now,
      customer,
      status: 'incomplete',
      items: {
        object: 'list',
        data: [
          {
            id: id('si'),
            object: 'subscription_item',
            price: { id: price, object: 'price', unit_amount: this.priceAmount(price), currency: 'usd' },
            quantity: int(first?.quantity) ?? 1,
            current_period_start: now,
            current_period_end: periodEnd,
            created: now,
          },
        ],
        has_more: false,
      },
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      ended_at: null,
      trial_start: trialEnd ? now : null,
      trial_end: trialEnd,
      latest_invoice: null,
      pending_setup_intent: null,
      default_payment_method: null,
      metadata: (p.metadata as Params | undefined) ?? {},
      livemode: false,
    };
    const amount = this.priceAmount(price) * ((sub.items as { data: Obj[] }).data[0]!.quantity as number);
    const hasPm = Boolean((cust.invoice_settings as Params).default_payment_method);
    if (trialEnd) {
      sub.status = 'trialing';
      sub.latest_invoice = this.createInvoice(sub, 0, 'paid', 'subscription_create').id;
      if (!hasPm) {
        const seti: Obj = {
          id: id('seti'),
          object: 'setup_intent',
          client_secret: `seti_${randomBytes(8).toString('hex')}_secret_x`,
          status: 'requires_payment_method',
        };
        this.setupIntents.set(seti.id, seti);
        sub.pending_setup_intent = seti.id;
      }
    } else if (hasPm && str(p.payment_behavior) !== 'default_incomplete') {
      sub.status = 'active';
      sub.latest_invoice = this.createInvoice(sub, amount, 'paid', 'subscription_create').id;
    } else {
      sub.latest_invoice = this.createInvoice(sub, amount, 'open', 'subscription_create').id;
    }
    this.subscriptions.set(sub.id, sub);
    this.emit('customer.subscription.created', sub);
    return sub;
  }

  private updateSubscription(sid: string, p: Params): Obj {
    const sub = this.get(this.subscriptions, sid, 'subscription');
    if (sub.status === 'canceled') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'A canceled subscription can only update its cancellation_details and metadata.',
      );
    }
    const previous: Record<string, unknown> = {};
    const cape = bool(p.cancel_at_period_end);
    if (cape !== undefined && cape !== sub.cancel_at_period_end) {
      previous.cancel_at_period_end = sub.cancel_at_period_end;
      sub.cancel_at_period_end = cape;
      const item = (sub.items as { data: Obj[] }).data[0]!;
      sub.cancel_at = cape ? item.current_period_end : null;
      sub.canceled_at = cape ? this.now() : null;
    }
    const items = p.items as Params[] | undefined;
    if (items?.length) {
      const change = items[0]!;
      const item = (sub.items as { data: Obj[] }).data.find((i) => i.id === str(change.id));
      if (!item)
        throw new StripeApiError(
          400,
          'invalid_request_error',
          `No such subscription item: '${str(change.id)}'`,
          'resource_missing',
          'items',
        );
      const price = str(change.price);
      if (price) {
        const from = (item.price as Obj).id;
        previous.items = structuredClone(sub.items);
        item.price = { id: price, object: 'price', unit_amount: this.priceAmount(price), currency: 'usd' };
        this.planChanges.push({
          subscription: sid,
          from,
          to: price,
          proration: str(p.proration_behavior) ?? 'create_prorations',
        });
      }
      const quantity = int(change.quantity);
      if (quantity) item.quantity = quantity;
    }
    if (p.metadata) sub.metadata = { ...(sub.metadata as Params), ...(p.metadata as Params) };
    this.emit('customer.subscription.updated', sub, previous);
    return sub;
  }

  private cancelSubscription(sid: string): Obj {
    const sub = this.get(this.subscriptions, sid, 'subscription');
    if (sub.status === 'canceled') {
      throw new StripeApiError(
        400,
        'invalid_request_error',
        `This customer has no subscription with id ${sid}.`,
        'resource_missing',
      );
    }
    const now = this.now();
    sub.status = 'canceled';
    sub.canceled_at = now;
    sub.ended_at = now;
    sub.cancel_at_period_end = false;
    this.emit('customer.subscription.deleted', sub);
    return sub;
  }

  private createPaymentMethod(p: Params): Obj {
    const token = str((p.card as Params | undefined)?.token) ?? 'tok_visa';
    const pm: Obj = {
      id: id('pm'),
      object: 'payment_method',
      type: str(p.type) ?? 'card',
      created: this.now(),
      customer: null,
      card: {
        brand: 'visa',
        last4: token === 'tok_chargeDeclined' ? '0002' : '4242',
        exp_month: 12,
        exp_year: 2030,
      },
      metadata: { declines: token === 'tok_chargeDeclined' ? 'true' : 'false' },
      livemode: false,
    };
    this.paymentMethods.set(pm.id, pm);
    return pm;
  }

  private attachPaymentMethod(pmid: string, p: Params): Obj {
    const pm = this.get(this.paymentMethods, pmid, 'payment_method');
    const customer = str(p.customer);
    if (!customer)
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: customer.',
        'parameter_missing',
        'customer',
      );
    this.get(this.customers, customer, 'customer');
    pm.customer = customer;
    this.emit('payment_method.attached', pm);
    return pm;
  }

  private detachPaymentMethod(pmid: string): Obj {
    const pm = this.get(this.paymentMethods, pmid, 'payment_method');
    const customer = pm.customer as string | null;
    pm.customer = null;
    const cust = customer ? this.customers.get(customer) : undefined;
    if (cust && (cust.invoice_settings as Params).default_payment_method === pmid) {
      cust.invoice_settings = { default_payment_method: null };
    }
    this.emit('payment_method.detached', pm);
    return pm;
  }

  private createPortalSession(p: Params): Obj {
    const customer = str(p.customer);
    if (!customer)
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Missing required param: customer.',
        'parameter_missing',
        'customer',
      );
    this.get(this.customers, customer, 'customer');
    const s: Obj = {
      id: id('bps'),
      object: 'billing_portal.session',
      created: this.now(),
      customer,
      return_url: str(p.return_url) ?? null,
      url: `https://billing.stripe.test/p/session/${randomBytes(8).toString('hex')}`,
      livemode: false,
    };
    this.portalSessions.set(s.id, s);
    return s;
  }

  /** The customer's default card, unless it is one that declines. */
  private chargeable(customer: string): boolean {
    const cust = this.customers.get(customer);
    const pmId = (cust?.invoice_settings as Params | undefined)?.default_payment_method as
      string | null | undefined;
    const pm = pmId ? this.paymentMethods.get(pmId) : undefined;
    return Boolean(pm && (pm.metadata as Params).declines !== 'true');
  }

  private payInvoiceRequest(iid: string): Obj {
    const inv = this.get(this.invoices, iid, 'invoice');
    if (inv.status === 'paid')
      throw new StripeApiError(
        400,
        'invalid_request_error',
        'Invoice is already paid',
        'invoice_already_paid',
      );
    if (inv.status !== 'open')
      throw new StripeApiError(400, 'invalid_request_error', `Invoice is ${String(inv.status)}`);
    if (!this.chargeable(inv.customer as string)) {
      this.recordFailure(inv);
      throw new StripeApiError(
        402,
        'card_error',
        'Your card was declined.',
        'card_declined',
        undefined,
        'generic_decline',
      );
    }
    return this.settle(inv);
  }

  private subscriptionOf(inv: Obj): Obj | undefined {
    const sid = ((inv.parent as Params | null)?.subscription_details as Params | undefined)?.subscription as
      string | undefined;
    return sid ? this.subscriptions.get(sid) : undefined;
  }

  private settle(inv: Obj): Obj {
    inv.status = 'paid';
    inv.amount_paid = inv.amount_due;
    inv.amount_remaining = 0;
    inv.attempted = true;
    inv.attempt_count = (inv.attempt_count as number) + 1;
    inv.confirmation_secret = null;
    const sub = this.subscriptionOf(inv);
    if (sub && ['incomplete', 'past_due', 'unpaid'].includes(sub.status as string)) {
      const previous = { status: sub.status };
      sub.status = 'active';
      this.emit('customer.subscription.updated', sub, previous);
    }
    this.emit('invoice.payment_succeeded', inv);
    this.emit('invoice.paid', inv);
    return inv;
  }

  private recordFailure(inv: Obj): void {
    inv.attempted = true;
    inv.attempt_count = (inv.attempt_count as number) + 1;
    const sub = this.subscriptionOf(inv);
    if (sub && sub.status === 'active') {
      sub.status = 'past_due';
      this.emit('customer.subscription.updated', sub, { status: 'active' });
    }
    this.emit('invoice.payment_failed', inv);
  }

  // --------------------------------------------------------------------------------------- test helpers

  /** The client confirmed the first payment (Stripe.js): the open invoice is paid, the subscription active. */
  confirmPayment(invoiceId: string): Obj {
    return this.settle(this.get(this.invoices, invoiceId, 'invoice'));
  }

  /**
   * A renewal charge failed (Smart Retries makes the next attempts on the same invoice): the period advances, an
   * open renewal invoice exists (created on the first failure) and its attempt count grows.
   */
  failRenewal(subscriptionId: string): { invoice: Obj; event: Obj } {
    const sub = this.get(this.subscriptions, subscriptionId, 'subscription');
    let inv = [...this.invoices.values()].find(
      (i) =>
        this.subscriptionOf(i)?.id === sub.id &&
        i.status === 'open' &&
        i.billing_reason === 'subscription_cycle',
    );
    if (!inv) {
      const item = (sub.items as { data: Obj[] }).data[0]!;
      item.current_period_start = item.current_period_end;
      item.current_period_end = (item.current_period_end as number) + 30 * DAY;
      if (sub.status === 'trialing') sub.status = 'active';
      inv = this.createInvoice(
        sub,
        this.priceAmount((item.price as Obj).id) * (item.quantity as number),
        'open',
        'subscription_cycle',
      );
    }
    this.recordFailure(inv);
    return { invoice: inv, event: this.events[this.events.length - 1]! };
  }

  /** The customer's card is charged for the open renewal invoice, as a Smart Retry would. */
  recoverRenewal(subscriptionId: string): { invoice: Obj } {
    const inv = [...this.invoices.values()].find(
      (i) => this.subscriptionOf(i)?.id === subscriptionId && i.status === 'open',
    );
    if (!inv) throw new Error(`no open invoice for ${subscriptionId}`);
    return { invoice: this.settle(inv) };
  }
}
