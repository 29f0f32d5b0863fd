import { z } from 'zod';

// The only module that reads process.env. Everything else receives a parsed, typed Config.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.some((p) => v.startsWith(`${p}:`)), {
      message: `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
    });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: url(['postgres', 'postgresql']).optional(),
  PGLITE_DIR: z.string().min(1).default('.keel/pglite'),
  REDIS_URL: url(['redis', 'rediss']).optional(),
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
  TRUST_PROXY: bool.default(false),
  SEED_DEMO: bool.optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
});

export type RawEnv = z.input<typeof envSchema>;
export const ENV_VARIABLES = Object.keys(envSchema.shape);

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  databaseUrl: string | undefined;
  pgliteDir: string;
  redisUrl: string | undefined;
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
  trustProxy: boolean;
  seedDemo: boolean;
  /** Bearer token for /metrics on the main port; without it (and without metricsPort) /metrics is not served. */
  metricsToken: string | undefined;
  /** A separate port serving /metrics without a token, for a private scrape network. */
  metricsPort: number | undefined;
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

const DEV_SESSION_SECRET = 'keel-development-session-secret-not-for-production';

export function parseConfig(source: Record<string, string | undefined>): Config {
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
  const appOrigin = new URL(e.APP_URL).origin;
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    pgliteDir: e.PGLITE_DIR,
    redisUrl: e.REDIS_URL,
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
    sessionSecret: e.SESSION_SECRET ?? DEV_SESSION_SECRET,
    sessionTtlSeconds: e.SESSION_TTL_HOURS * 3600,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY ?? (e.NODE_ENV === 'development' && process.stdout.isTTY === true),
    webDist: e.WEB_DIST,
    dbPoolMax: e.DB_POOL_MAX,
    trustProxy: e.TRUST_PROXY,
    seedDemo: e.SEED_DEMO ?? e.NODE_ENV !== 'production',
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT,
  };
}

export function loadConfig(overrides: Record<string, string | undefined> = {}): Config {
  return parseConfig({ ...process.env, ...overrides });
}

/** Where the test suites find PostgreSQL and Redis (CI's local services unless TEST_PG_URL / TEST_REDIS_URL say otherwise). */
export function loadTestServices(source: Record<string, string | undefined> = process.env) {
  return {
    pgUrl: source.TEST_PG_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    redisUrl: source.TEST_REDIS_URL || 'redis://127.0.0.1:6379',
  };
}
