import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';

export class RedisUnavailableError extends Error {
  constructor() {
    super(
      [
        'Keel needs Redis and none is configured or installed.',
        'Choose one:',
        '  1. set REDIS_URL, e.g. REDIS_URL=redis://127.0.0.1:6379',
        '  2. docker compose up -d redis   (then REDIS_URL=redis://127.0.0.1:6379)',
        '  3. install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)',
      ].join('\n'),
    );
    this.name = 'RedisUnavailableError';
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server did not start listening on ${port} within ${timeoutMs} ms`);
}

export interface LocalRedis {
  url: string;
  stop(): void;
}

/** Starts a private redis-server for local use (no REDIS_URL). Its data lives only in memory. */
export async function startLocalRedis(dir: string): Promise<LocalRedis> {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new RedisUnavailableError();
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`))),
  );
  await Promise.race([waitForPort(port, 5000), exited]);
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stop);
  return { url: `redis://127.0.0.1:${port}`, stop };
}
