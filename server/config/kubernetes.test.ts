import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { QUEUE_NAMES } from '../platform/queue/definition.ts';
import { QueueKeys } from '../platform/queue/keys.ts';
import { parseConfig } from './env.ts';
import { cliCommands, keelSubcommand, readRepoFile, repoRoot } from './testing/deployment.ts';

// deploy/kubernetes/ checked offline against the Kubernetes OpenAPI schemas and KEDA's CRD schema, as the
// kubernetes-models packages compile them (required fields, types, enums, int-or-string), plus what those
// validators let through: a field the API does not have (they do not reject unknown properties, as the API
// server prunes them silently) is caught by TypeScript's excess-property check against the same packages' types.
// Then what no schema knows: selectors match pods, probes hit Keel's endpoints, the autoscalers target what exists.

const DIR = 'deploy/kubernetes/';

/** apiVersion/kind → the model that validates it and its TypeScript interface (module, name). */
const MODELS = {
  'v1/ConfigMap': { model: ConfigMap, type: ['kubernetes-models/v1/ConfigMap', 'IConfigMap'] },
  'v1/Service': { model: Service, type: ['kubernetes-models/v1/Service', 'IService'] },
  'apps/v1/Deployment': { model: Deployment, type: ['kubernetes-models/apps/v1/Deployment', 'IDeployment'] },
  'batch/v1/Job': { model: Job, type: ['kubernetes-models/batch/v1/Job', 'IJob'] },
  'networking.k8s.io/v1/Ingress': {
    model: Ingress,
    type: ['kubernetes-models/networking.k8s.io/v1/Ingress', 'IIngress'],
  },
  'policy/v1/PodDisruptionBudget': {
    model: PodDisruptionBudget,
    type: ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    type: ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', 'IHorizontalPodAutoscaler'],
  },
  'keda.sh/v1alpha1/ScaledObject': {
    model: ScaledObject,
    type: ['@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'IScaledObject'],
  },
  'keda.sh/v1alpha1/TriggerAuthentication': {
    model: TriggerAuthentication,
    type: ['@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication', 'ITriggerAuthentication'],
  },
} as const;
type ModelKey = keyof typeof MODELS;

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

const files = readdirSync(new URL(DIR, repoRoot))
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .sort();
const manifests: Manifest[] = files.flatMap((file) =>
  parseAllDocuments(readRepoFile(DIR + file)).map((doc) => ({
    file,
    ...(doc.toJSON() as Omit<Manifest, 'file'>),
  })),
);
const find = (kind: string, name: string) => {
  const m = manifests.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name}`);
  return m;
};
const keyOf = (m: { apiVersion: string; kind: string }) => `${m.apiVersion}/${m.kind}`;
const bare = ({ file: _file, ...doc }: Manifest) => doc;

/** Validates with the model's compiled schema; returns the error text, or null when valid. */
function schemaErrors(doc: object & { apiVersion: string; kind: string }): string | null {
  const entry = MODELS[keyOf(doc) as ModelKey];
  if (!entry) return `no schema for ${keyOf(doc)}`;
  try {
    new entry.model(doc as never).validate();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** TypeScript's diagnostics for `doc satisfies <its interface>`, one program for all documents. */
function typeErrors(docs: (object & { apiVersion: string; kind: string })[]): string[] {
  const file = fileURLToPath(new URL('server/config/__manifests_check__.ts', repoRoot));
  const lines = docs.flatMap((doc, i) => {
    const entry = MODELS[keyOf(doc) as ModelKey];
    return [
      `import type { ${entry.type[1]} as T${i} } from '${entry.type[0]}';`,
      `export const m${i} = ${JSON.stringify(doc)} satisfies T${i};`,
    ];
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? source : readFile.call(host, f));
  host.getSourceFile = (f, lang, ...rest) =>
    f === file ? ts.createSourceFile(f, source, lang) : getSourceFile.call(host, f, lang, ...rest);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

interface Container {
  name: string;
  command: string[];
  ports?: { name: string; containerPort: number }[];
  envFrom?: ({ configMapRef: { name: string } } | { secretRef: { name: string } })[];
  resources?: { requests?: { cpu?: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  readinessProbe?: { httpGet?: { path: string; port: string } };
  startupProbe?: { httpGet?: { path: string; port: string } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number };
}
const podTemplate = (m: Manifest) => (m.spec as { template: PodTemplate }).template;
const container = (m: Manifest) => podTemplate(m).spec.containers[0]!;
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** What `keel-secrets` must hold (docs/operations.md lists them); fake values of the right shape. */
const SECRET_KEYS = {
  SESSION_SECRET: 'x'.repeat(40),
  DATABASE_URL: 'postgresql://keel:secret@postgres.example:5432/keel',
  REDIS_URL: 'redis://:secret@redis.example:6379',
  METRICS_TOKEN: 'm'.repeat(24),
  STORAGE_S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  STORAGE_S3_SECRET_ACCESS_KEY: 'secret',
  KEDA_REDIS_ADDRESS: 'redis.example:6379',
  KEDA_REDIS_PASSWORD: 'secret',
};

describe('deploy/kubernetes', () => {
  it('holds the API and worker Deployments, Service, Ingress, PDBs, HPA, ScaledObject and the migration Job', () => {
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/keel-config',
      'Deployment/keel-api',
      'Deployment/keel-worker',
      'HorizontalPodAutoscaler/keel-api',
      'Ingress/keel-api',
      'Job/keel-migrate',
      'PodDisruptionBudget/keel-api',
      'PodDisruptionBudget/keel-worker',
      'ScaledObject/keel-worker',
      'Service/keel-api',
      'TriggerAuthentication/keel-redis',
    ]);
  });

  it('validates every manifest against its Kubernetes or KEDA schema, which does refuse a broken one', () => {
    for (const m of manifests) expect(schemaErrors(bare(m)), `${m.file}: ${m.kind}`).toBeNull();
    const broken = structuredClone(bare(find('Deployment', 'keel-api')));
    (broken.spec as { replicas: unknown }).replicas = 'two';
    expect(schemaErrors(broken)).toMatch(/replicas/);
    const noTrigger = structuredClone(bare(find('ScaledObject', 'keel-worker')));
    delete (noTrigger.spec as { triggers?: unknown }).triggers;
    expect(schemaErrors(noTrigger)).toMatch(/triggers/);
  });

  it('uses no field the Kubernetes and KEDA types lack (a misspelt probe would be dropped silently)', () => {
    const docs = manifests.map(bare);
    expect(typeErrors(docs)).toEqual([]);
    // The check bites: a misspelt field in a pod template and in a trigger are reported.
    const api = structuredClone(bare(find('Deployment', 'keel-api')));
    const apiPod = (api.spec as { template: PodTemplate }).template.spec;
    (apiPod.containers[0] as unknown as Record<string, unknown>).readinesProbe = {
      httpGet: { path: '/readyz' },
    };
    const keda = structuredClone(bare(find('ScaledObject', 'keel-worker')));
    (keda.spec as Record<string, unknown>).minReplicas = 1;
    const errors = typeErrors([api, keda]);
    expect(errors.join('\n')).toMatch(/readinesProbe\W+ does not exist in type 'IContainer'/);
    expect(errors.join('\n')).toMatch(/minReplicas\W+ does not exist in type 'IScaledObjectSpec'/);
  }, 60_000);

  it('kustomization.yaml applies every manifest but the migration Job (run once per release)', () => {
    const kustomization = parseAllDocuments(readRepoFile(DIR + 'kustomization.yaml'))[0]!.toJSON() as {
      resources: string[];
    };
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'migrate-job.yaml'));
  });

  it('runs `keel serve`, `keel work` and `keel migrate`, with a configuration Keel accepts', () => {
    const commands = cliCommands();
    const config = find('ConfigMap', 'keel-config').data!;
    const roles: Record<string, string> = {};
    for (const m of manifests.filter((x) => x.kind === 'Deployment' || x.kind === 'Job')) {
      const c = container(m);
      const sub = keelSubcommand(c.command)!;
      expect(commands, m.metadata.name).toContain(sub);
      roles[m.metadata.name] = sub;
      expect(c.envFrom).toEqual([
        { configMapRef: { name: 'keel-config' } },
        { secretRef: { name: 'keel-secrets' } },
      ]);
    }
    expect(roles).toEqual({ 'keel-api': 'serve', 'keel-worker': 'work', 'keel-migrate': 'migrate' });
    const parsed = parseConfig({ ...config, ...SECRET_KEYS });
    expect(parsed.env).toBe('production');
    expect(parsed.storage.driver).toBe('s3'); // files shared by every pod
    expect(parsed.trustProxy).toBe(1);
    expect(parsed.metricsPort).toBeDefined();
  }, 30_000);

  it('probes the API on /livez and /readyz at its HTTP port, and drains before SIGTERM', () => {
    const api = find('Deployment', 'keel-api');
    const c = container(api);
    const port = Number(find('ConfigMap', 'keel-config').data!.PORT);
    const http = c.ports?.find((p) => p.name === 'http');
    expect(http?.containerPort).toBe(port);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
    expect(preStop[0]).toBe('sleep');
    // The pod must outlive the preStop sleep plus Keel's own shutdown bound (15 s in server/main.ts).
    const grace = podTemplate(api).spec.terminationGracePeriodSeconds ?? 30;
    expect(grace).toBeGreaterThanOrEqual(Number(preStop[1]) + 15);
    // The worker's grace covers the production queue shutdown grace (25 s) and Keel's 15 s beyond it.
    expect(
      podTemplate(find('Deployment', 'keel-worker')).spec.terminationGracePeriodSeconds,
    ).toBeGreaterThanOrEqual(40);
  });

  it('points the Service, Ingress and PDBs at the pods they mean, and only those', () => {
    const api = podTemplate(find('Deployment', 'keel-api')).metadata.labels;
    const worker = podTemplate(find('Deployment', 'keel-worker')).metadata.labels;
    const service = find('Service', 'keel-api').spec as {
      selector: Record<string, string>;
      ports: { name: string; targetPort: string }[];
    };
    expect(matches(service.selector, api)).toBe(true);
    expect(matches(service.selector, worker)).toBe(false);
    expect(service.ports[0]!.targetPort).toBe('http');
    const ingress = find('Ingress', 'keel-api');
    const backend = (
      ingress.spec as {
        rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[];
      }
    ).rules[0]!.http.paths[0]!.backend.service;
    expect(backend).toEqual({ name: 'keel-api', port: { name: service.ports[0]!.name } });
    // WebSockets (/trpc subscriptions) idle longer than ingress-nginx's default 60 s read timeout.
    expect(
      Number(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout']),
    ).toBeGreaterThanOrEqual(3600);
    for (const [name, labels, other] of [
      ['keel-api', api, worker],
      ['keel-worker', worker, api],
    ] as const) {
      const selector = (
        find('PodDisruptionBudget', name).spec as { selector: { matchLabels: Record<string, string> } }
      ).selector.matchLabels;
      expect(matches(selector, labels), name).toBe(true);
      expect(matches(selector, other), name).toBe(false);
    }
  });

  it('scales the API on CPU (which has a request) and the workers on queue depth with KEDA, never both on one', () => {
    const hpa = find('HorizontalPodAutoscaler', 'keel-api').spec as {
      scaleTargetRef: { kind: string; name: string };
      metrics: { type: string; resource?: { name: string } }[];
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'keel-api' });
    expect(hpa.metrics.map((m) => m.resource?.name)).toEqual(['cpu']);
    expect(container(find('Deployment', 'keel-api')).resources?.requests?.cpu).toBeDefined();
    const scaled = find('ScaledObject', 'keel-worker').spec as {
      scaleTargetRef: { name: string };
      minReplicaCount: number;
      triggers: { type: string; metadata: { listName: string }; authenticationRef: { name: string } }[];
    };
    expect(scaled.scaleTargetRef.name).toBe('keel-worker');
    // One worker always runs: the scheduler, delayed jobs and stall recovery need one.
    expect(scaled.minReplicaCount).toBeGreaterThanOrEqual(1);
    const hpaTargets = manifests
      .filter((m) => m.kind === 'HorizontalPodAutoscaler')
      .map((m) => (m.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name);
    expect(hpaTargets).not.toContain('keel-worker');
    // Every queue's waiting list, named as the queue layer names it under the configured KEY_PREFIX.
    const keys = new QueueKeys(find('ConfigMap', 'keel-config').data!.KEY_PREFIX!);
    expect(scaled.triggers.map((t) => t.metadata.listName).sort()).toEqual(
      QUEUE_NAMES.map((q) => keys.beeKey(q, 'waiting')).sort(),
    );
    for (const t of scaled.triggers) {
      expect(t.type).toBe('redis');
      expect(find('TriggerAuthentication', t.authenticationRef.name)).toBeDefined();
    }
    const auth = find('TriggerAuthentication', 'keel-redis').spec as {
      secretTargetRef: { name: string; key: string }[];
    };
    for (const ref of auth.secretTargetRef) {
      expect(ref.name).toBe('keel-secrets');
      expect(Object.keys(SECRET_KEYS)).toContain(ref.key);
    }
  });
});
