import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_VARIABLES, parseConfig } from './env.ts';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };

  it('is valid YAML with the infrastructure and every Keel role', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'app', 'worker']),
    );
    for (const name of ['app', 'worker']) expect(compose.services[name]?.build).toBeDefined();
  });

  it('gives the Keel processes a configuration Keel accepts', () => {
    for (const name of ['app', 'worker']) {
      const env = compose.services[name]?.environment;
      expect(env).toBeDefined();
      const config = parseConfig(env!);
      expect(config.env).toBe('production');
      expect(config.databaseUrl).toMatch(/@postgres:5432\//);
      expect(config.redisUrl).toBe('redis://redis:6379');
    }
  });

  it('runs commands the CLI has', () => {
    const help = execFileSync('node_modules/.bin/tsx', ['server/main.ts', '--help'], {
      cwd: fileURLToPath(root),
      encoding: 'utf8',
    });
    const commands = [...help.matchAll(/^ {2}([a-z:]+)\b/gm)].map((m) => m[1]);
    for (const name of ['app', 'worker']) {
      const command = compose.services[name]?.command ?? [];
      const sub = command[command.indexOf('server/main.ts') + 1];
      expect(sub, `${name} command`).toBeTruthy();
      expect(commands).toContain(sub);
    }
  }, 30_000);

  it('keeps the database credentials consistent between postgres and the app', () => {
    const pg = compose.services.postgres?.environment ?? {};
    const url = new URL(compose.services.app?.environment?.DATABASE_URL ?? '');
    expect(url.username).toBe(pg.POSTGRES_USER);
    expect(url.password).toBe(pg.POSTGRES_PASSWORD);
    expect(url.pathname.slice(1)).toBe(pg.POSTGRES_DB);
  });
});

describe('.env.example', () => {
  it('documents exactly the variables the config reads', () => {
    const documented = [...read('.env.example').matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(ENV_VARIABLES));
  });
});
