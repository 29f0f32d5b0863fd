import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadTestServices, parseConfig } from './env.ts';

const SECRET = 's'.repeat(32);

/** The ConfigError parseConfig throws for `source`, or fails the test. */
function configError(source: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to be refused`);
}

const variables = (err: ConfigError) => [...new Set(err.issues.map((i) => i.variable))];

describe('defaults', () => {
  it('an empty environment is a working development setup', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      pgliteDir: '.keel/pglite',
      redisUrl: undefined,
      keyPrefix: 'keel:',
      appUrl: 'http://localhost:3000',
      appDomain: 'localhost',
      sessionTtlSeconds: 14 * 24 * 3600,
      logLevel: 'info',
      trustProxy: false,
      seedDemo: true,
    });
    expect(config.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(config.allowedOrigins[0]).toBe('http://localhost:3000');
  });

  it('empty strings count as unset, as `.env` files write them', () => {
    const config = parseConfig({ PORT: '', DATABASE_URL: '', SESSION_SECRET: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
  });

  it('given values are parsed and typed', () => {
    const config = parseConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://keel:pw@db:5432/keel',
      REDIS_URL: 'rediss://cache.internal:6380/2',
      APP_URL: 'https://app.keel.example',
      APP_DOMAIN: 'keel.example',
      ALLOWED_ORIGINS: 'https://admin.keel.example, https://app.keel.example ,',
      SESSION_SECRET: SECRET,
      SESSION_TTL_HOURS: '12',
      TRUST_PROXY: 'yes',
    });
    expect(config).toMatchObject({
      env: 'production',
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: 'postgresql://keel:pw@db:5432/keel',
      redisUrl: 'rediss://cache.internal:6380/2',
      appDomain: 'keel.example',
      sessionSecret: SECRET,
      sessionTtlSeconds: 12 * 3600,
      trustProxy: true,
      seedDemo: false,
    });
    // The app's own origin is always allowed, once.
    expect(config.allowedOrigins).toEqual(['https://app.keel.example', 'https://admin.keel.example']);
  });

  it('test services default to the local PostgreSQL and Redis', () => {
    expect(loadTestServices({})).toEqual({
      pgUrl: 'postgresql://postgres@127.0.0.1:5432/postgres',
      redisUrl: 'redis://127.0.0.1:6379',
    });
    expect(loadTestServices({ TEST_REDIS_URL: 'redis://elsewhere:6390' }).redisUrl).toBe(
      'redis://elsewhere:6390',
    );
  });
});

describe('bad values stop with the variable named', () => {
  it.each(['abc', '70000', '-1', '80.5'])('PORT=%s', (value) => {
    const err = configError({ PORT: value });
    expect(variables(err)).toEqual(['PORT']);
    expect(err.message).toMatch(/^Invalid configuration:\n {2}PORT: /);
  });

  it.each(['mysql://db/keel', 'not a url', 'localhost:5432'])('DATABASE_URL=%s', (value) => {
    const err = configError({ DATABASE_URL: value });
    expect(variables(err)).toEqual(['DATABASE_URL']);
    expect(err.message).toContain('DATABASE_URL');
  });

  it('a DATABASE_URL with another scheme says which schemes work', () => {
    expect(configError({ DATABASE_URL: 'mysql://db/keel' }).issues[0]?.message).toBe(
      'must start with postgres:// or postgresql://',
    );
  });

  it('REDIS_URL must be redis:// or rediss://', () => {
    expect(variables(configError({ REDIS_URL: 'http://localhost:6379' }))).toEqual(['REDIS_URL']);
  });

  it('a short SESSION_SECRET is refused with the minimum', () => {
    const err = configError({ SESSION_SECRET: 'too-short' });
    expect(err.issues).toEqual([{ variable: 'SESSION_SECRET', message: 'must be at least 32 characters' }]);
  });

  it('production without SESSION_SECRET is refused', () => {
    const err = configError({ NODE_ENV: 'production' });
    expect(err.issues).toEqual([{ variable: 'SESSION_SECRET', message: 'is required in production' }]);
    expect(parseConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).sessionSecret).toBe(SECRET);
  });

  it('every bad variable is named at once', () => {
    const err = configError({ PORT: 'x', NODE_ENV: 'staging', TRUST_PROXY: 'maybe', LOG_LEVEL: 'loud' });
    expect(variables(err).sort()).toEqual(['LOG_LEVEL', 'NODE_ENV', 'PORT', 'TRUST_PROXY']);
  });

  it('a key prefix with characters that would break key patterns is refused', () => {
    expect(variables(configError({ KEY_PREFIX: 'keel *' }))).toEqual(['KEY_PREFIX']);
  });

  it('the keel command refuses to start and names the variable', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const result = spawnSync(path.join(root, 'node_modules/.bin/tsx'), ['server/main.ts', 'serve'], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'eighty', SESSION_SECRET: 'short' },
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Invalid configuration');
    expect(result.stderr).toContain('PORT');
    expect(result.stderr).toContain('SESSION_SECRET: must be at least 32 characters');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('billing sandbox', () => {
  it('is on in development without a Stripe key, off with one and off in tests unless asked for', () => {
    expect(parseConfig({}).billing).toMatchObject({
      sandbox: true,
      sandboxFile: '.keel/billing-sandbox.json',
    });
    expect(parseConfig({ STRIPE_SECRET_KEY: 'sk_test_abc' }).billing.sandbox).toBe(false);
    expect(parseConfig({ NODE_ENV: 'test' }).billing.sandbox).toBe(false);
    expect(parseConfig({ NODE_ENV: 'test', BILLING_SANDBOX: 'true' }).billing.sandbox).toBe(true);
    expect(parseConfig({ BILLING_SANDBOX: 'false' }).billing.sandbox).toBe(false);
  });

  it('is refused in production, and next to a Stripe key', () => {
    const prod = configError({ NODE_ENV: 'production', SESSION_SECRET: SECRET, BILLING_SANDBOX: 'true' });
    expect(variables(prod)).toEqual(['BILLING_SANDBOX']);
    expect(prod.message).toContain('refused in production');
    // Production without a key has no sandbox by default (billing answers "not configured").
    expect(parseConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).billing.sandbox).toBe(false);
    expect(variables(configError({ BILLING_SANDBOX: 'true', STRIPE_SECRET_KEY: 'sk_test_abc' }))).toEqual([
      'BILLING_SANDBOX',
    ]);
  });
});
