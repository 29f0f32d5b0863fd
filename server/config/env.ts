import { createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import { billingPlans, type BillingPlans } from '../../shared/schemas/billing.ts';
import { installationSecret } from './installation-secret.ts';
import { isClusterUrl, parseRedisUrl } from './redis-url.ts';

// The only module that reads process.env. Everything else receives a parsed, typed Config.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** proxy-addr's names for the loopback, link-local and private ranges (Fastify hands the list to it). */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Which peers may tell Keel the client's address in X-Forwarded-For: nobody (unset, `false`, `0`), the nearest
 * N hops (`1` for one load balancer), or the listed proxy addresses and CIDRs. `true` (every hop) is refused: the
 * leftmost entry is whatever the client wrote, so per-IP limits would count what the attacker chose.
 */
const trustProxy = z.string().transform((v, ctx): false | number | string[] => {
  const value = v.trim().toLowerCase();
  if (['false', 'no', '0'].includes(value)) return false;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  if (['true', 'yes'].includes(value)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'true would believe every X-Forwarded-For entry, which a client writes itself: set the number of proxies ' +
        'in front of Keel (1 behind one load balancer) or their addresses (10.0.0.1,10.0.0.0/8)',
    });
    return z.NEVER;
  }
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.filter((e) => !isProxyAddress(e));
  if (!entries.length || bad.length) {
    ctx.addIssue({
      code: 'custom',
      message: `must be false, a number of proxy hops (1) or proxy addresses/CIDRs (10.0.0.1,10.0.0.0/8); not ${bad.join(', ') || 'empty'}`,
    });
    return z.NEVER;
  }
  return entries;
});

const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.some((p) => v.startsWith(`${p}:`)), {
      message: `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

/** One Redis server or a Redis Cluster (see redis-url.ts for the forms). */
const redisUrl = z.string().superRefine((v, ctx) => {
  try {
    parseRedisUrl(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
  }
});

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: url(['postgres', 'postgresql']).optional(),
  // Streaming replicas of DATABASE_URL that serve reads (docs/decisions/0013-read-replicas.md); empty: none.
  DATABASE_REPLICA_URLS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(url(['postgres', 'postgresql']))),
  DATABASE_REPLICA_MAX_LAG_MS: z.coerce.number().int().positive().default(5000),
  DATABASE_REPLICA_CHECK_MS: z.coerce.number().int().positive().default(1000),
  PGLITE_DIR: z.string().min(1).default('.keel/pglite'),
  REDIS_URL: redisUrl.optional(),
  // One Redis per role where an operator wants them apart (a cache flush or an evicting cache server then cannot
  // sign anyone out, reset a limit or lose a job); each falls back to REDIS_URL.
  REDIS_CACHE_URL: redisUrl.optional(),
  REDIS_SESSIONS_URL: redisUrl.optional(),
  REDIS_LIMITS_URL: redisUrl.optional(),
  REDIS_REALTIME_URL: redisUrl.optional(),
  REDIS_QUEUE_URL: redisUrl.optional(),
  REDIS_METRICS_URL: redisUrl.optional(),
  KEY_PREFIX: z
    .string()
    .regex(/^[a-z0-9:_-]*$/i, 'letters, digits, ":", "_" and "-" only')
    .default('keel:'),
  APP_URL: z.string().url().default('http://localhost:3000'),
  APP_DOMAIN: z.string().min(1).default('localhost'),
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SESSION_TTL_HOURS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 14),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool.optional(),
  WEB_DIST: z.string().default('dist/web'),
  DB_POOL_MAX: z.coerce.number().int().positive().default(10),
  /** Server-side bound of one statement (PostgreSQL's statement_timeout); 0 turns the database bounds off. */
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  TRUST_PROXY: trustProxy.optional(),
  SEED_DEMO: bool.optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  SMTP_URL: url(['smtp', 'smtps']).optional(),
  MAIL_FROM: z.string().min(3).default('Keel <no-reply@keel.local>'),
  MAIL_DIR: z.string().min(1).default('.keel/mail'),
  STORAGE_DRIVER: z.enum(['local', 's3']).default('local'),
  STORAGE_LOCAL_DIR: z.string().min(1).default('.keel/storage'),
  STORAGE_URL_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  STORAGE_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')
    .optional(),
  STORAGE_S3_REGION: z.string().min(1).default('us-east-1'),
  STORAGE_S3_ENDPOINT: url(['http', 'https']).optional(),
  STORAGE_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  STORAGE_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  STORAGE_S3_FORCE_PATH_STYLE: bool.default(false),
  ALERT_SLACK_WEBHOOK_URL: z.string().url().optional(),
  ALERT_PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  ALERT_PAGERDUTY_URL: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
  ALERT_EMAIL_TO: z.string().min(3).optional(),
  METRICS_ENABLED: bool.default(true),
  OTEL_ENABLED: bool.default(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('keel'),
  OTEL_TRACES_SAMPLE_RATIO: z.coerce.number().min(0).max(1).optional(),
  SENTRY_DSN: z.string().url().optional(),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret key (sk_test_…, sk_live_…, rk_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\w+$/, 'must start with whsec_')
    .optional(),
  STRIPE_API_BASE: url(['http', 'https']).optional(),
  STRIPE_PLANS: z
    .string()
    .default('{}')
    .transform((v, ctx) => {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of price id → plan' });
        return z.NEVER;
      }
    })
    .pipe(billingPlans),
  BILLING_TRIAL_DAYS: z.coerce.number().int().min(0).max(730).default(14),
  BILLING_PAST_DUE_GRACE_DAYS: z.coerce.number().int().min(0).max(90).default(7),
  BILLING_SANDBOX: bool.optional(),
  BILLING_SANDBOX_FILE: z.string().min(1).default('.keel/billing-sandbox.json'),
});

export type RawEnv = z.input<typeof envSchema>;
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** Read replicas of databaseUrl: out of rotation when down or lagging more than maxLagMs, checked every checkMs. */
  databaseReplicas: { urls: string[]; maxLagMs: number; checkMs: number };
  pgliteDir: string;
  redisUrl: string | undefined;
  /** Servers of the roles an operator moved off REDIS_URL (`REDIS_<ROLE>_URL`). */
  redisRoleUrls: RedisRoleUrls;
  keyPrefix: string;
  appUrl: string;
  appDomain: string;
  allowedOrigins: string[];
  sessionSecret: string;
  sessionTtlSeconds: number;
  logLevel: string;
  logPretty: boolean;
  webDist: string;
  dbPoolMax: number;
  /**
   * PostgreSQL's statement_timeout for every pooled connection; the client gives up on an answer 5 s after it (a
   * hung server or a silent network) and on a connection after the same bound. 0: no bounds.
   */
  dbStatementTimeoutMs: number;
  /** Fastify's trustProxy: false, a number of trusted hops, or trusted proxy addresses/CIDRs (never `true`). */
  trustProxy: false | number | string[];
  seedDemo: boolean;
  /** Bearer token for /metrics on the main port; without it (and without metricsPort) /metrics is not served. */
  metricsToken: string | undefined;
  /** A separate port serving /metrics without a token, for a private scrape network. */
  metricsPort: number | undefined;
  /** Request and query metrics (Prometheus + console store); off only to measure their cost. */
  metricsEnabled: boolean;
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Without SMTP_URL, mail is written here as .eml files (and logged) instead of sent. */
  mailDir: string;
  storage: {
    /** `local` (the embedded default: files under localDir, downloads served by Keel) or `s3`. */
    driver: 'local' | 's3';
    localDir: string;
    /** HMAC key of Keel's signed download and upload URLs. */
    urlSecret: string;
    s3: {
      bucket: string | undefined;
      region: string;
      /** MinIO, s3rver or another S3-compatible server; AWS when unset. */
      endpoint: string | undefined;
      accessKeyId: string | undefined;
      secretAccessKey: string | undefined;
      forcePathStyle: boolean;
    };
  };
  tracing: {
    /** Spans for HTTP, pg, ioredis, jobs and webhooks (trace ids in logs); exported only with an endpoint. */
    enabled: boolean;
    otlpEndpoint: string | undefined;
    serviceName: string;
    /** Share of new traces recorded: 10 % in production unless set, every trace elsewhere. */
    sampleRatio: number;
  };
  sentryDsn: string | undefined;
  alerts: {
    slackWebhookUrl: string | undefined;
    pagerdutyRoutingKey: string | undefined;
    pagerdutyUrl: string;
    emailTo: string | undefined;
  };
  billing: {
    /** Without it billing operations answer "billing not configured"; webhooks still verify. */
    stripeSecretKey: string | undefined;
    stripeWebhookSecret: string | undefined;
    /** A Stripe-compatible server (tests, stripe-mock); Stripe's own API when unset. */
    stripeApiBase: string | undefined;
    plans: BillingPlans;
    trialDays: number;
    pastDueGraceDays: number;
    /**
     * Keel's own Stripe-compatible server, in process, instead of Stripe (modules/billing/sandbox): on by default in
     * development without STRIPE_SECRET_KEY, refused in production.
     */
    sandbox: boolean;
    /** Where `keel dev` and `keel seed` keep the sandbox's customers, subscriptions and invoices between runs. */
    sandboxFile: string;
  };
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** The Redis roles an operator can give a server of their own; every other connection stays on REDIS_URL. */
export const REDIS_URL_ROLES = ['sessions', 'cache', 'limits', 'realtime', 'queue', 'metrics'] as const;
export type RedisUrlRole = (typeof REDIS_URL_ROLES)[number];
export type RedisRoleUrls = Partial<Record<RedisUrlRole, string>>;

/** The server a role's connections go to: its own URL when configured, else REDIS_URL. */
export function redisUrlFor(config: Pick<Config, 'redisUrl' | 'redisRoleUrls'>, role: RedisUrlRole) {
  return config.redisRoleUrls[role] ?? config.redisUrl;
}

/**
 * The queue's keys keep bee-queue's layout without a hash tag, and its scripts use several of them at once (ADR 0022):
 * on a cluster jobs would fail with CROSSSLOT at run time, so start-up stops here and names the alternative. Every
 * other role's client (ioredis, rate-limiter-flexible on ioredis) handles a cluster.
 */
function refuseClusterWhereUnsupported(queueUrl: string | undefined, defaultUrl: string | undefined): void {
  if (queueUrl !== undefined ? !isClusterUrl(queueUrl) : !defaultUrl || !isClusterUrl(defaultUrl)) return;
  throw new ConfigError([
    {
      variable: queueUrl !== undefined ? 'REDIS_QUEUE_URL' : 'REDIS_URL',
      message:
        'the queue role cannot run on a Redis Cluster (its scripts use keys of several slots): set REDIS_QUEUE_URL ' +
        'to a single-node or failover-managed Redis (redis:// or rediss://, e.g. a primary with replicas behind ' +
        'one endpoint) and keep the cluster for the other roles',
    },
  ]);
}

function definedOnly(urls: Record<RedisUrlRole, string | undefined>): RedisRoleUrls {
  return Object.fromEntries(Object.entries(urls).filter(([, v]) => v !== undefined));
}

export interface ParseOptions {
  /**
   * The secret to use outside production when SESSION_SECRET is unset. loadConfig reads (or creates) this
   * installation's secret file; without it a process signs with a random secret of its own.
   */
  installationSecret?: () => string;
}

export function parseConfig(source: Record<string, string | undefined>, opts: ParseOptions = {}): Config {
  // Empty strings mean "unset" so `.env` files with `FOO=` behave like absent variables.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    );
  }
  const e = result.data;
  if (e.NODE_ENV === 'production' && !e.SESSION_SECRET) {
    throw new ConfigError([{ variable: 'SESSION_SECRET', message: 'is required in production' }]);
  }
  if (e.STORAGE_DRIVER === 's3' && !e.STORAGE_S3_BUCKET) {
    throw new ConfigError([{ variable: 'STORAGE_S3_BUCKET', message: 'is required when STORAGE_DRIVER=s3' }]);
  }
  refuseClusterWhereUnsupported(e.REDIS_QUEUE_URL, e.REDIS_URL);
  if (e.DATABASE_REPLICA_URLS.length > 0 && !e.DATABASE_URL) {
    throw new ConfigError([
      {
        variable: 'DATABASE_REPLICA_URLS',
        message: 'needs DATABASE_URL: the embedded PGlite database (no DATABASE_URL) has no replicas',
      },
    ]);
  }
  const billingSandbox = e.BILLING_SANDBOX ?? (e.NODE_ENV === 'development' && !e.STRIPE_SECRET_KEY);
  if (billingSandbox && e.NODE_ENV === 'production') {
    throw new ConfigError([
      { variable: 'BILLING_SANDBOX', message: 'is refused in production: the sandbox fakes every payment' },
    ]);
  }
  if (billingSandbox && e.STRIPE_SECRET_KEY) {
    throw new ConfigError([
      { variable: 'BILLING_SANDBOX', message: 'cannot be combined with STRIPE_SECRET_KEY (choose one)' },
    ]);
  }
  const appOrigin = new URL(e.APP_URL).origin;
  // Never a secret written in the source: anyone could then sign cookies and file URLs for a development or
  // staging installation.
  const sessionSecret = e.SESSION_SECRET ?? opts.installationSecret?.() ?? randomBytes(32).toString('hex');
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databaseReplicas: {
      urls: e.DATABASE_REPLICA_URLS,
      maxLagMs: e.DATABASE_REPLICA_MAX_LAG_MS,
      checkMs: e.DATABASE_REPLICA_CHECK_MS,
    },
    pgliteDir: e.PGLITE_DIR,
    redisUrl: e.REDIS_URL,
    redisRoleUrls: definedOnly({
      cache: e.REDIS_CACHE_URL,
      sessions: e.REDIS_SESSIONS_URL,
      limits: e.REDIS_LIMITS_URL,
      realtime: e.REDIS_REALTIME_URL,
      queue: e.REDIS_QUEUE_URL,
      metrics: e.REDIS_METRICS_URL,
    }),
    keyPrefix: e.KEY_PREFIX,
    appUrl: e.APP_URL,
    appDomain: e.APP_DOMAIN,
    // In development the Vite dev server (port 5173) proxies /trpc with its own Origin.
    allowedOrigins: [
      ...new Set([
        appOrigin,
        ...e.ALLOWED_ORIGINS,
        ...(e.NODE_ENV === 'development' ? ['http://localhost:5173'] : []),
      ]),
    ],
    sessionSecret,
    sessionTtlSeconds: e.SESSION_TTL_HOURS * 3600,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY ?? (e.NODE_ENV === 'development' && process.stdout.isTTY === true),
    webDist: e.WEB_DIST,
    dbPoolMax: e.DB_POOL_MAX,
    dbStatementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    trustProxy: e.TRUST_PROXY ?? false,
    seedDemo: e.SEED_DEMO ?? e.NODE_ENV !== 'production',
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
    metricsEnabled: e.METRICS_ENABLED,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    mailDir: e.MAIL_DIR,
    storage: {
      driver: e.STORAGE_DRIVER,
      localDir: e.STORAGE_LOCAL_DIR,
      // Derived from the session secret when unset, so it is never a well-known key either.
      urlSecret:
        e.STORAGE_URL_SECRET ?? createHmac('sha256', sessionSecret).update('keel:storage-urls').digest('hex'),
      s3: {
        bucket: e.STORAGE_S3_BUCKET,
        region: e.STORAGE_S3_REGION,
        endpoint: e.STORAGE_S3_ENDPOINT,
        accessKeyId: e.STORAGE_S3_ACCESS_KEY_ID,
        secretAccessKey: e.STORAGE_S3_SECRET_ACCESS_KEY,
        forcePathStyle: e.STORAGE_S3_FORCE_PATH_STYLE,
      },
    },
    tracing: {
      enabled: e.OTEL_ENABLED || Boolean(e.OTEL_EXPORTER_OTLP_ENDPOINT),
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: e.OTEL_SERVICE_NAME,
      sampleRatio: e.OTEL_TRACES_SAMPLE_RATIO ?? (e.NODE_ENV === 'production' ? 0.1 : 1),
    },
    sentryDsn: e.SENTRY_DSN,
    alerts: {
      slackWebhookUrl: e.ALERT_SLACK_WEBHOOK_URL,
      pagerdutyRoutingKey: e.ALERT_PAGERDUTY_ROUTING_KEY,
      pagerdutyUrl: e.ALERT_PAGERDUTY_URL,
      emailTo: e.ALERT_EMAIL_TO,
    },
    billing: {
      stripeSecretKey: e.STRIPE_SECRET_KEY,
      stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET,
      stripeApiBase: e.STRIPE_API_BASE,
      plans: e.STRIPE_PLANS,
      trialDays: e.BILLING_TRIAL_DAYS,
      pastDueGraceDays: e.BILLING_PAST_DUE_GRACE_DAYS,
      sandbox: billingSandbox,
      sandboxFile: e.BILLING_SANDBOX_FILE,
    },
  };
}

/** The process's configuration; outside production without SESSION_SECRET, the installation's secret file. */
export function loadConfig(overrides: Record<string, string | undefined> = {}): Config {
  return parseConfig({ ...process.env, ...overrides }, { installationSecret: () => installationSecret() });
}

/** Where the test suites find PostgreSQL and Redis (CI's local services unless TEST_PG_URL / TEST_REDIS_URL say otherwise). */
export function loadTestServices(source: Record<string, string | undefined> = process.env) {
  return {
    pgUrl: source.TEST_PG_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    redisUrl: source.TEST_REDIS_URL || 'redis://127.0.0.1:6379',
  };
}
