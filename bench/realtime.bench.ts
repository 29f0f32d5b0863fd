import { spawn } from 'node:child_process';
import { WebSocket } from 'ws';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createToken, createAccount } from '../server/modules/auth/auth.service.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { publishOrgEvent } from '../server/modules/realtime/realtime.service.ts';
import { startProcess, type ServerProcess } from '../server/modules/realtime/testing/cluster.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { percentile, printFigures, type Figure } from './lib.ts';

// publish → receive latency of `org.events` with subscribers spread over two Keel API processes (fan-out through
// Redis), against a raw `ws` broadcast from one process, measured in the same run. Timestamps come from this
// process's clock at publish and at receipt, so both paths are measured the same way.

const ROUNDS = [
  { subscribers: 100, messages: 300, perSecond: 50 },
  { subscribers: 1000, messages: 150, perSecond: 20 },
];
const WARMUP = 20;
const PAD = 'x'.repeat(120);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Round {
  latencies: number[];
  expected: number;
}

/** Finds the `{ seq, t }` a message carries, whichever envelope (tRPC + superjson, or raw) it came in. */
function stamp(raw: string): { seq: number; t: number } | null {
  const m = raw.match(/"seq":(-?\d+),"t":([\d.]+)/);
  return m ? { seq: Number(m[1]), t: Number(m[2]) } : null;
}

async function openAll<T>(n: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 100) {
    out.push(...(await Promise.all([...Array(Math.min(100, n - i)).keys()].map((k) => open(i + k)))));
  }
  return out;
}

function receiver(round: { current: Round | null }) {
  return (data: WebSocket.RawData) => {
    const at = now();
    const s = stamp(data.toString());
    if (s && s.seq >= 0 && round.current) round.current.latencies.push(at - s.t);
  };
}

async function keelSubscriber(url: string, token: string, onMessage: (d: WebSocket.RawData) => void) {
  const ws = new WebSocket(`${url}?connectionParams=1`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const started = new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      const text = d.toString();
      if (text.includes('"started"')) resolve();
      else if (text.includes('"error"')) reject(new Error(text));
    });
  });
  ws.send(JSON.stringify({ method: 'connectionParams', data: { token } }));
  ws.send(
    JSON.stringify({ id: 1, method: 'subscription', params: { path: 'org.events', input: { json: {} } } }),
  );
  await started;
  ws.on('message', onMessage);
  return ws;
}

async function rawSubscriber(url: string, onMessage: (d: WebSocket.RawData) => void) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.on('message', onMessage);
  return ws;
}

async function measure(
  spec: (typeof ROUNDS)[number],
  publish: (seq: number) => Promise<void>,
  state: { current: Round | null },
): Promise<{ p50: number; p95: number; p99: number; lost: number }> {
  state.current = null;
  for (let seq = -WARMUP; seq < 0; seq++) {
    await publish(seq);
    await sleep(1000 / spec.perSecond);
  }
  await sleep(300);
  const round: Round = { latencies: [], expected: spec.messages * spec.subscribers };
  state.current = round;
  const start = now();
  for (let seq = 0; seq < spec.messages; seq++) {
    // Paced against the start, so a slow publish does not stretch the schedule.
    const due = start + (seq * 1000) / spec.perSecond;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    await publish(seq);
  }
  const deadline = now() + 5000;
  while (round.latencies.length < round.expected && now() < deadline) await sleep(20);
  state.current = null;
  const sorted = [...round.latencies].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    lost: Math.max(0, round.expected - round.latencies.length),
  };
}

export async function run(): Promise<void> {
  const bench = await createBenchEnvironment('rt');
  const env = { ...bench.env, APP_URL: 'http://127.0.0.1:3000' };

  const config = parseConfig(env);
  const deps = await createDeps(config, { logger: createLogger({ level: 'silent', pretty: false }) });
  const processes: ServerProcess[] = [];
  const sockets: WebSocket[] = [];
  const baseline = spawn('node_modules/.bin/tsx', ['bench/realtime-baseline-server.ts'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const { organizationId, user } = await createAccount(deps.em, {
      email: 'bench@example.test',
      passwordHash: await hashPassword('bench-password-123'),
      name: 'Bench',
      organizationName: 'Bench Org',
    });
    const token = await withDbScope(deps.em, organizationId, async (em) => {
      const { secret } = await createToken(em, {
        organizationId,
        userId: user.id,
        grantorAbilities: ['read'],
        name: 'bench',
        abilities: ['read'],
      });
      return secret;
    });
    const limits = {
      revalidateMs: 600_000,
      maxQueuedPerSubscription: 10_000,
      metricsIntervalMs: 60_000,
      messagesPerSecond: 100,
      messageBurst: 200,
    };
    processes.push(...(await Promise.all([startProcess(config, limits), startProcess(config, limits)])));
    const baselinePort = await new Promise<number>((resolve, reject) => {
      let out = '';
      baseline.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = out.match(/LISTENING (\d+)/);
        if (m) resolve(Number(m[1]));
      });
      baseline.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    });
    const publisher = await rawSubscriber(`ws://127.0.0.1:${baselinePort}/publish`, () => undefined);
    sockets.push(publisher);

    const figures: Figure[] = [];
    for (const spec of ROUNDS) {
      const state: { current: Round | null } = { current: null };
      const onMessage = receiver(state);

      const keelSockets = await openAll(spec.subscribers, (i) =>
        keelSubscriber(processes[i % 2]!.wsUrl, token, onMessage),
      );
      const keel = await measure(
        spec,
        async (seq) =>
          void (await publishOrgEvent(deps.realtime.log, organizationId, {
            type: 'bench',
            data: { seq, t: now(), pad: PAD },
          })),
        state,
      );
      for (const ws of keelSockets) ws.close();

      const rawSockets = await openAll(spec.subscribers, () =>
        rawSubscriber(`ws://127.0.0.1:${baselinePort}/`, onMessage),
      );
      const raw = await measure(
        spec,
        async (seq) => publisher.send(JSON.stringify({ type: 'bench', data: { seq, t: now(), pad: PAD } })),
        state,
      );
      for (const ws of rawSockets) ws.close();
      await sleep(300);

      const n = spec.subscribers;
      figures.push(
        { name: `p50_ms_${n}`, value: keel.p50, unit: 'ms', baseline: raw.p50, goal: 'lower' },
        {
          name: `p95_ms_${n}`,
          value: keel.p95,
          unit: 'ms',
          baseline: raw.p95,
          goal: n === 100 ? 'lower, < 10 ms at 100 subscribers' : 'lower, < 50 ms',
        },
        { name: `p99_ms_${n}`, value: keel.p99, unit: 'ms', baseline: raw.p99, goal: 'lower' },
        { name: `lost_${n}`, value: keel.lost, unit: 'messages', baseline: raw.lost, goal: '0' },
      );
    }
    printFigures('realtime', figures);
  } finally {
    for (const ws of sockets) ws.close();
    baseline.kill();
    await Promise.allSettled(processes.map((p) => p.stop()));
    await deps.close();
    await bench.cleanup();
  }
}
