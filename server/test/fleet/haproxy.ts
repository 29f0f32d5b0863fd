import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort } from '../own-redis.ts';

// HAProxy in front of Keel processes on loopback ports, with the very configuration docker-compose.yml ships
// (deploy/haproxy/haproxy.cfg): what the tests prove about balancing, WebSocket upgrades and health checks is what
// users run.

const here = path.dirname(fileURLToPath(import.meta.url));
export const HAPROXY_CFG = path.resolve(here, '../../../deploy/haproxy/haproxy.cfg');
/** The response header naming the node that answered (haproxy.cfg sets it when KEEL_LB_NODE_HEADER is given). */
export const NODE_HEADER = 'x-keel-node';

/** The absolute path of a program on the PATH, or null. */
const which = (cmd: string) => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
};

/**
 * Installs Debian's haproxy when it is missing (CI starts from a fresh machine; this machine reaches Debian's
 * package mirrors). Throws with apt's output if that fails, rather than letting the tests skip.
 */
export function ensureHaproxy(): string {
  let bin = which('haproxy');
  if (!bin) {
    const apt = (args: string) =>
      spawnSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive apt-get ${args}`], { encoding: 'utf8' });
    const install = () => apt('install -y -qq --no-install-recommends haproxy');
    let r = install();
    if (r.status !== 0) {
      apt('update -qq');
      r = install();
    }
    bin = which('haproxy');
    if (r.status !== 0 || !bin) {
      throw new Error(`haproxy is not installed and apt-get could not install it:\n${r.stdout}\n${r.stderr}`);
    }
  }
  return bin;
}

export interface Balancer {
  port: number;
  url: string;
  wsUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts HAProxy balancing over `backends` (host:port, exactly two as in haproxy.cfg; give one twice for a
 * single node) and resolves once it accepts connections and every distinct backend answers /readyz through it.
 */
export async function startBalancer(
  backends: [string, string],
  opts: { checkInter?: string } = {},
): Promise<Balancer> {
  const port = await freePort();
  const child: ChildProcess = spawn(ensureHaproxy(), ['-db', '-f', HAPROXY_CFG], {
    env: {
      KEEL_LB_BIND: `127.0.0.1:${port}`,
      KEEL_API_1: backends[0],
      KEEL_API_2: backends[1],
      KEEL_LB_CHECK_INTER: opts.checkInter ?? '500ms',
      KEEL_LB_NODE_HEADER: NODE_HEADER,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  // Up, and each node seen healthy: a request reaches every distinct backend (round robin over two servers).
  const distinct = new Set(backends).size;
  const seen = new Set<string>();
  const ready = await eventually(async () => {
    if (child.exitCode !== null) return true;
    const res = await fetch(`${url}/readyz`).catch(() => null);
    const node = res?.headers.get(NODE_HEADER);
    if (res?.ok && node) seen.add(node);
    return seen.size >= distinct;
  }, 300);
  if (!ready || child.exitCode !== null) {
    await stop();
    throw new Error(`haproxy did not come up on ${port} (saw ${[...seen].join(', ')}): ${stderr}`);
  }
  return { port, url, wsUrl: `ws://127.0.0.1:${port}/trpc`, pid: child.pid!, stop };
}
