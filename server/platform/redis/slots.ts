import { isCluster, type RedisClient } from './redis.ts';

/**
 * Redis Cluster hash tags. A key's slot is CRC16 of the part between its first `{` and the next `}` (when that is
 * non-empty), else of the whole key; keys one script or transaction touches must share a slot. Keel tags keys by
 * tenant or channel (`keel:cache:prod:{t:42:}v:…`), never by role, so load spreads over the cluster (ADR 0014).
 */
export function hashTag(unit: string): string {
  // A `}` inside would end the tag early (still one slot per unit, but a different one than intended): keep the
  // unit's own braces out of it. KEY_PREFIX cannot contain braces (env.ts).
  return `{${unit.replace(/[{}]/g, '_')}}`;
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The cluster slot (0–16383) of a key, as Redis computes it (CRC16/XMODEM of the hash tag or the key). */
export function keySlot(key: string): number {
  let part = key;
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) part = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(part)) % 16384;
}

/**
 * Calls `onKeys` with every key matching `pattern`, in batches. SCAN walks one server's keyspace: on a cluster it
 * runs on every master, or the keys of all but one shard would be missed.
 */
export async function scanKeys(
  client: RedisClient,
  pattern: string,
  onKeys: (keys: string[]) => Promise<void>,
): Promise<void> {
  // A cluster client learns its masters once connected: a command first makes sure it is.
  if (isCluster(client) && !client.nodes('master').length) await client.ping();
  const servers = isCluster(client) ? client.nodes('master') : [client];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await onKeys(keys);
    } while (cursor !== '0');
  }
}

/**
 * Deletes keys that may lie in different slots: one DEL per slot (a cluster refuses a DEL across slots; on one
 * server this is one DEL per distinct tag, still few round trips).
 */
export async function deleteKeys(client: RedisClient, keys: readonly string[]): Promise<void> {
  const bySlot = new Map<number, string[]>();
  for (const key of keys) {
    const slot = keySlot(key);
    bySlot.set(slot, [...(bySlot.get(slot) ?? []), key]);
  }
  await Promise.all([...bySlot.values()].map((group) => client.del(...group)));
}

/**
 * On a cluster whose masters have replicas: waits (WAIT, at most `timeoutMs`) until a replica of the master that
 * holds `key` has every write this client sent it, and resolves with how many replicas have. WAIT counts the
 * writes of the connection it is sent on, so it goes to the master's connection the write went through: the slot
 * table's owner, which a write's MOVED redirect has just refreshed. Resolves null on one server, or a cluster
 * without replicas, where there is nothing to wait for.
 */
export async function waitForReplica(
  client: RedisClient,
  key: string,
  timeoutMs: number,
): Promise<number | null> {
  if (!isCluster(client) || !client.nodes('slave').length) return null;
  const owner = client.slots[keySlot(key)]?.[0];
  const node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (!node) return null;
  return node.wait(1, timeoutMs);
}
