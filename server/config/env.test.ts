import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, loadTestServices, parseConfig } from './env.ts';
import { installationSecret } from './installation-secret.ts';

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

  it('reads replica URLs as a list, and refuses replicas of the embedded database or a URL that is none', () => {
    const config = parseConfig({
      DATABASE_URL: 'postgresql://keel:pw@db:5432/keel',
      DATABASE_REPLICA_URLS: ' postgresql://keel:pw@r1:5432/keel, postgres://keel:pw@r2/keel ,',
      DATABASE_REPLICA_MAX_LAG_MS: '2000',
    });
    expect(config.databaseReplicas).toEqual({
      urls: ['postgresql://keel:pw@r1:5432/keel', 'postgres://keel:pw@r2/keel'],
      maxLagMs: 2000,
      checkMs: 1000,
    });
    expect(parseConfig({}).databaseReplicas.urls).toEqual([]);
    const embedded = configError({ DATABASE_REPLICA_URLS: 'postgresql://keel:pw@r1:5432/keel' });
    expect(variables(embedded)).toEqual(['DATABASE_REPLICA_URLS']);
    expect(embedded.message).toMatch(/PGlite/);
    const bad = configError({
      DATABASE_URL: 'postgresql://db/keel',
      DATABASE_REPLICA_URLS: 'mysql://r1/keel',
    });
    expect(variables(bad)).toEqual(['DATABASE_REPLICA_URLS']);
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
      TRUST_PROXY: '1',
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
      trustProxy: 1,
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

describe('the session secret without SESSION_SECRET (issue 17 finding 7)', () => {
  it('is never a value from the source: two installations without a file sign with different keys', () => {
    const [one, two] = [parseConfig({}), parseConfig({ NODE_ENV: 'test' })];
    expect(one.sessionSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(two.sessionSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(one.sessionSecret).not.toBe(two.sessionSecret);
    // File URLs are signed with a key derived from it: they differ too.
    expect(one.storage.urlSecret).not.toBe(two.storage.urlSecret);
  });

  it("is the installation's own random secret, kept in a 0600 file and the same on every start", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'keel-secret-'));
    try {
      const file = path.join(dir, '.keel', 'session-secret');
      const load = () => parseConfig({}, { installationSecret: () => installationSecret(file) });
      const first = load();
      expect(readFileSync(file, 'utf8').trim()).toBe(first.sessionSecret);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const restarted = load();
      expect(restarted.sessionSecret).toBe(first.sessionSecret);
      expect(restarted.storage.urlSecret).toBe(first.storage.urlSecret);
      // Another installation (another data folder) has another secret.
      const elsewhere = path.join(dir, 'other', 'session-secret');
      expect(installationSecret(elsewhere)).not.toBe(first.sessionSecret);
      // A damaged file is refused rather than replaced (that would sign everybody out) or used.
      writeFileSync(file, 'short\n');
      expect(() => load()).toThrow(/does not hold a secret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SESSION_SECRET wins, and production without it is refused without touching the file', () => {
    const fromFile = vi.fn(() => 'f'.repeat(64));
    expect(parseConfig({ SESSION_SECRET: SECRET }, { installationSecret: fromFile }).sessionSecret).toBe(
      SECRET,
    );
    expect(() => parseConfig({ NODE_ENV: 'production' }, { installationSecret: fromFile })).toThrow(
      ConfigError,
    );
    expect(fromFile).not.toHaveBeenCalled();
  });
});

describe('TRUST_PROXY', () => {
  it('is off by default and for false, no and 0', () => {
    for (const value of [undefined, 'false', 'no', '0']) {
      expect(parseConfig({ TRUST_PROXY: value }).trustProxy).toBe(false);
    }
  });

  it('a number is the count of trusted hops', () => {
    expect(parseConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(parseConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
  });

  it('a list names the trusted proxies by address, CIDR or range name', () => {
    expect(parseConfig({ TRUST_PROXY: '10.0.0.1, 10.0.0.0/8,fd00::/8,::1,loopback' }).trustProxy).toEqual([
      '10.0.0.1',
      '10.0.0.0/8',
      'fd00::/8',
      '::1',
      'loopback',
    ]);
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

  it('TRUST_PROXY=true is refused: it would believe the client-written end of X-Forwarded-For', () => {
    for (const value of ['true', 'yes', 'TRUE']) {
      const err = configError({ TRUST_PROXY: value });
      expect(err.issues).toHaveLength(1);
      expect(err.issues[0]?.variable).toBe('TRUST_PROXY');
      expect(err.issues[0]?.message).toMatch(/number of proxies.*addresses/);
    }
  });

  it.each(['10.0.0.300', '10.0.0.0/33', 'proxy.internal', '::1/129', '10.0.0.1/8/2', ','])(
    'TRUST_PROXY=%s (not an address, CIDR or hop count) is refused',
    (value) => {
      expect(variables(configError({ TRUST_PROXY: value }))).toEqual(['TRUST_PROXY']);
    },
  );

  it('a key prefix with characters that would break key patterns is refused', () => {
    expect(variables(configError({ KEY_PREFIX: 'keel *' }))).toEqual(['KEY_PREFIX']);
  });

  // A real `keel` process: loading the CLI takes seconds on a busy machine, so the test waits as long as the spawn.
  it('the keel command refuses to start and names the variable', { timeout: 30_000 }, () => {
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
