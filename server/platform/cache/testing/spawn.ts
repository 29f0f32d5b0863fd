import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../../..');

export interface CacheChild {
  pid: number;
  send<T = unknown>(cmd: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

/** Starts cache-child.ts as a separate Node process sharing the Redis and key prefix of the test. */
export async function spawnCacheChild(redisUrl: string, prefix: string): Promise<CacheChild> {
  const child: ChildProcessWithoutNullStreams = spawn(
    path.join(root, 'node_modules/.bin/tsx'),
    [path.join(here, 'cache-child.ts'), redisUrl, prefix],
    { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    const err = new Error(`cache child exited with ${code}: ${stderr.slice(-2000)}`);
    readyReject(err);
    for (const p of pending.values()) p.reject(err);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line) as { ready?: boolean; id?: number; result?: unknown; error?: string };
    if (msg.ready) return readyResolve();
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id!);
    if (msg.error) p.reject(new Error(msg.error));
    else p.resolve(msg.result);
  });
  await ready;
  return {
    pid: child.pid!,
    send<T>(cmd: Record<string, unknown>) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n');
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      await Promise.race([
        (async () => {
          const id = nextId++;
          child.stdin.write(JSON.stringify({ op: 'exit', id }) + '\n');
          await exited;
        })(),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
