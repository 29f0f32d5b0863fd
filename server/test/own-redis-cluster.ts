import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { eventually, freePort, isStopped, startRedis, stopRedis } from './own-redis.ts';

const run = promisify(execFile);

// A Redis Cluster of the test's own: three masters with a replica each, on free loopback ports, in a temporary
// directory. Every process is a child of the test (never daemonized), so `stop` ends exactly these and nothing else.

export interface ClusterNode {
  port: number;
  process: ChildProcess;
}

export interface OwnRedisCluster {
  nodes: ClusterNode[];
  /** `redis+cluster://` URL naming two seed nodes (Keel learns the others). */
  url: string;
  /** The node serving `slot` as master right now. */
  masterOf(slot: number): Promise<ClusterNode>;
  /** Runs `redis-cli --cluster <args…>` against the first live node. */
  cli(...args: string[]): Promise<string>;
  /** Resolves once every live node reports cluster_state:ok and every replica is in sync with its master. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Node timeout: how long a master may be unreachable before its replica is promoted. */
const NODE_TIMEOUT_MS = 2000;

async function info(port: number): Promise<string> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return `${String(await redis.cluster('INFO'))}\n${await redis.info('replication')}`;
  } catch {
    return '';
  } finally {
    redis.disconnect();
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000) is free and valid too. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10000 <= 65535 && (await canListen(port + 10000))) return port;
  }
}

export async function startRedisCluster(): Promise<OwnRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-cluster-'));
  const nodes: ClusterNode[] = [];
  // A test process that ends without afterAll (a timeout, a crash) must not leave six servers behind.
  const killAll = () => nodes.forEach((n) => isStopped(n.process) || n.process.kill('SIGKILL'));
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(nodes.map((n) => stopRedis(n.process)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort();
      const server = await startRedis(port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        '--dir',
        dir,
      ]);
      nodes.push({ port, process: server });
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const live = () => nodes.filter((n) => !isStopped(n.process));
  const cluster: OwnRedisCluster = {
    nodes,
    url: `redis+cluster://127.0.0.1:${nodes[0]!.port},127.0.0.1:${nodes[1]!.port}`,
    async masterOf(slot) {
      for (const node of live()) {
        const redis = new Redis({ port: node.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
        try {
          const ranges = await redis.cluster('SLOTS');
          const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
          const found = nodes.find((n) => n.port === owner);
          if (found) return found;
        } finally {
          redis.disconnect();
        }
      }
      throw new Error(`no live node serves slot ${slot}`);
    },
    async cli(...args) {
      const first = live()[0];
      if (!first) throw new Error('no live cluster node');
      const out = await run('redis-cli', [
        '--cluster',
        args[0]!,
        `127.0.0.1:${first.port}`,
        ...args.slice(1),
      ]);
      return out.stdout;
    },
    async waitHealthy(timeoutMs = 20_000) {
      const ok = await eventually(
        async () => {
          const states = await Promise.all(live().map((n) => info(n.port)));
          // A replica that has not finished its first sync cannot be promoted: wait for every link too.
          return states.every(
            (s) =>
              s.includes('cluster_state:ok') &&
              (s.includes('role:master') || s.includes('master_link_status:up')),
          );
        },
        Math.ceil(timeoutMs / 200),
        200,
      );
      if (!ok) throw new Error('the Redis Cluster did not reach cluster_state:ok');
    },
    stop,
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
