/**
 * The two forms a Redis URL takes in Keel's configuration: one server (`redis://`, `rediss://` for TLS) or a
 * Redis Cluster named by seed nodes (`redis+cluster://[user:pass@]host1:7000,host2:7001`, `rediss+cluster://` for
 * TLS). A cluster URL names any few nodes of the cluster; the client learns the rest from them.
 */
export type ParsedRedisUrl =
  | { kind: 'single'; url: string }
  | {
      kind: 'cluster';
      seeds: Array<{ host: string; port: number }>;
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?$/;
const SEED = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:/.test(url);
}

/** Throws an Error whose message says what is wrong with the URL (never echoing its password). */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  if (!isClusterUrl(url)) {
    const u = new URL(url);
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
      throw new Error('must start with redis://, rediss://, redis+cluster:// or rediss+cluster://');
    }
    return { kind: 'single', url };
  }
  const m = CLUSTER.exec(url);
  if (!m) {
    throw new Error(
      'a cluster URL has the form redis+cluster://[user:password@]host1:port1,host2:port2 (rediss+cluster:// for TLS)',
    );
  }
  const [, scheme, auth, hosts = '', path] = m;
  if (path && path !== '/' && path !== '/0') {
    throw new Error('a Redis Cluster has only database 0: remove the path after the seed nodes');
  }
  const seeds = hosts.split(',').map((seed) => {
    const s = SEED.exec(seed.trim());
    const port = Number(s?.[2]);
    if (!s || port < 1 || port > 65535) {
      throw new Error(`cluster seed "${seed}" is not host:port (each seed node needs its port)`);
    }
    return { host: s[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const [user = '', pass] = auth ? auth.split(/:(.*)/s) : [];
  return {
    kind: 'cluster',
    seeds,
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(pass ? { password: decodeURIComponent(pass) } : {}),
    tls: scheme === 'rediss',
  };
}

/** `host:port` of a server or the seed list of a cluster, never credentials: for readiness output and logs. */
export function redisNodes(url: string): string {
  const parsed = parseRedisUrl(url);
  if (parsed.kind === 'cluster') {
    return `cluster ${parsed.seeds.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',')}`;
  }
  const u = new URL(url);
  return `${u.hostname || '127.0.0.1'}:${u.port || 6379}`;
}
