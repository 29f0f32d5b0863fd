// Groups the self time of a V8 CPU profile (`node --cpu-prof`) by the code that ran it, for bench/api-profile.

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const GROUPS: [string, RegExp][] = [
  ['MikroORM', /node_modules\/@mikro-orm\//],
  ['Kysely', /node_modules\/kysely\//],
  ['pg', /node_modules\/(pg|pg-protocol|pg-types|pg-pool|postgres-\w+)\//],
  ['superjson', /node_modules\/(superjson|copy-anything|is-what)\//],
  ['tRPC', /node_modules\/@trpc\//],
  ['zod', /node_modules\/zod\//],
  [
    'Fastify',
    /node_modules\/(fastify|@fastify|find-my-way|light-my-request|avvio|fast-json-stringify|secure-json-parse|fast-querystring)\//,
  ],
  ['ioredis', /node_modules\/(ioredis|redis-parser)\//],
  ['pino', /node_modules\/(pino|pino-std-serializers|sonic-boom)\//],
  ['prom-client / OpenTelemetry', /node_modules\/(prom-client|@opentelemetry)\//],
  ['other node_modules', /node_modules\//],
  ['Keel server/', /\/server\//],
  ['Keel shared/', /\/shared\//],
  ['Node internals', /^node:|^internal\//],
];

function groupOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8 (program)';
    return 'V8 builtins / native';
  }
  for (const [name, re] of GROUPS) if (re.test(url)) return name;
  return 'other';
}

const STARTUP = /node_modules\/(tsx|esbuild)\/|^node:internal\/modules\//;
const UNATTRIBUTED = new Set(['V8 builtins / native', 'Node internals', 'other']);

/**
 * Self time grouped by the code that ran it. Native frames (socket writes, JSON, regexps) and Node's internals are
 * charged to the nearest caller that is a library or Keel, so "pg" includes the socket writes pg asked for; samples
 * under module loading (tsx, esbuild, the ESM loader) are startup, not requests, and are left out.
 */
export function summarize(profile: Profile, requests: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const charged = (id: number): string => {
    const own = groupOf(byId.get(id)!);
    if (!UNATTRIBUTED.has(own)) return own;
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const g = groupOf(byId.get(p)!);
      if (!UNATTRIBUTED.has(g)) return g;
    }
    return own;
  };
  const startup = (id: number): boolean => {
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
      if (STARTUP.test(byId.get(p)!.callFrame.url)) return true;
    }
    return false;
  };
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  let boot = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    if (groupOf(node) === 'idle') continue;
    if (startup(id)) {
      boot += us;
      continue;
    }
    busy += us;
    const group = charged(id);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const where = node.callFrame.url
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\/.*?\/(server|shared)\//, '$1/');
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1} [${group}]`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const per = (us: number) =>
    `${(us / requests).toFixed(0).padStart(6)} µs/req ${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const lines = [
    `busy CPU ${(busy / requests).toFixed(0)} µs per request over ${requests} requests ` +
      `(startup left out: ${(boot / 1000).toFixed(0)} ms)`,
  ];
  for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1])) lines.push(`${per(us)}  ${g}`);
  lines.push('heaviest functions (self time, [charged to]):');
  for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 30)) lines.push(`${per(us)}  ${f}`);
  return lines.join('\n');
}
