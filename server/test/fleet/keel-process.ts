import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { eventually, freePort } from '../own-redis.ts';

// Real `keel serve` and `keel work` processes: server/main.ts exactly as production starts it (through
// server/instrument.ts), configured by environment variables only. Node runs the file itself with tsx as a loader,
// not the tsx CLI: the CLI would start the real process as its child, and a kill -9 of the CLI would leave it alive.

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

export interface KeelProcess {
  role: 'serve' | 'work';
  pid: number;
  /** `serve`: host:port it listens on; `work`: empty. */
  address: string;
  /** `work`: the worker id it printed (the value of the leader key while it leads). */
  workerId: string;
  /** What it wrote to stdout and stderr so far (logs at LOG_LEVEL), for failure messages. */
  output(): string;
  exitCode(): Promise<number | null>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash, no goodbyes. */
  kill(): Promise<void>;
  alive(): boolean;
  /** With `memory`: the last memory sample the process reported (after a full GC), null before the first. */
  memory(): MemorySample | null;
}

export interface MemorySample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface KeelProcessOptions {
  args?: string[];
  /** Preload server/test/fleet/memory-reporter.ts (with --expose-gc) and read its samples. */
  memory?: boolean;
}

/** Starts `keel <role>` with `env` (DATABASE_URL, REDIS_URL, KEY_PREFIX, …) and resolves once it serves/works. */
export async function startKeel(
  role: 'serve' | 'work',
  env: Record<string, string>,
  opts: KeelProcessOptions = {},
): Promise<KeelProcess> {
  const port = role === 'serve' ? await freePort() : 0;
  const memoryArgs = opts.memory ? ['--expose-gc', '--import', './server/test/fleet/memory-reporter.ts'] : [];
  const child = spawn(
    process.execPath,
    [
      ...memoryArgs,
      '--import',
      'tsx',
      '--import',
      './server/instrument.ts',
      'server/main.ts',
      role,
      ...(opts.args ?? []),
    ],
    {
      cwd: root,
      // Only what is given: nothing of the test runner's environment leaks into the process's configuration.
      env: {
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    },
  );
  let memory: MemorySample | null = null;
  let memoryBuffer = '';
  (child.stdio[3] as Readable).on('data', (d: Buffer) => {
    memoryBuffer += d.toString();
    const lines = memoryBuffer.split('\n');
    memoryBuffer = lines.pop() ?? '';
    const last = lines.filter(Boolean).at(-1);
    if (last) memory = JSON.parse(last) as MemorySample;
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const address = role === 'serve' ? `127.0.0.1:${port}` : '';
  const ready = await eventually(async () => {
    if (!alive()) return true;
    if (role === 'work') return /worker \S+ working/.test(out);
    const res = await fetch(`http://${address}/readyz`).catch(() => null);
    return res?.status === 200;
  }, 1_800);
  if (!ready || !alive()) {
    child.kill('SIGKILL');
    throw new Error(`keel ${role} did not start: ${out}`);
  }
  return {
    role,
    pid: child.pid!,
    address,
    workerId: out.match(/worker (\S+) working/)?.[1] ?? '',
    output: () => out,
    exitCode: () => exited,
    async stop() {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    alive,
    memory: () => memory,
  };
}
