import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

// A redis-server of the test's own, for tests that stop Redis under a running Keel (the shared one must stay up for
// every other test file).

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it returns true, at most `attempts` times. */
export async function eventually(
  probe: () => Promise<boolean>,
  attempts = 100,
  everyMs = 100,
): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

/**
 * Starts an empty, non-persistent redis-server on `port`, resolving once it accepts connections. `extraArgs` come
 * last and win (`--appendonly yes --dir <dir>` for a server that keeps its data across a restart).
 */
export async function startRedis(port: number, extraArgs: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: 'ignore' },
  );
  if (!(await eventually(() => canConnect(port)))) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${port}`);
  }
  return child;
}

/** Kills it the hard way (no goodbye to clients), resolving once it has exited. */
export async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export const isStopped = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
