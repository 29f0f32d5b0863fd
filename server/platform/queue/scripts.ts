import type { ChainableCommander, Redis } from 'ioredis';

// The queue layer's atomic steps, as Lua run through ioredis (EVALSHA with an automatic EVAL fallback).

const FETCH = `
-- KEYS: waiting, active, jobs; ARGV: max jobs. Same hand-off as bee's BRPOPLPUSH, without blocking.
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local id = redis.call('rpoplpush', KEYS[1], KEYS[2])
  if not id then break end
  local data = redis.call('hget', KEYS[3], id)
  if data then
    out[#out + 1] = id
    out[#out + 1] = data
  else
    redis.call('lrem', KEYS[2], 0, id)
  end
end
return out
`;

const STALLS = `
-- bee-queue's checkStalledJobs plus a stall count per job: over the limit a job is taken out instead of requeued.
-- KEYS: stallBlock, stalling, waiting, active, stallCounts; ARGV: stallInterval ms, maxStalls
if not redis.call('set', KEYS[1], '1', 'PX', tonumber(ARGV[1]), 'NX') then
  return {{}, {}}
end
local requeued, failed = {}, {}
local stalling = redis.call('smembers', KEYS[2])
for _, id in ipairs(stalling) do
  if redis.call('lrem', KEYS[4], 0, id) > 0 then
    local n = redis.call('hincrby', KEYS[5], id, 1)
    if n > tonumber(ARGV[2]) then
      failed[#failed + 1] = id
    else
      requeued[#requeued + 1] = id
      redis.call('lpush', KEYS[3], id)
    end
  end
end
redis.call('del', KEYS[2])
local actives = redis.call('lrange', KEYS[4], 0, -1)
for i = 1, #actives, 1000 do
  redis.call('sadd', KEYS[2], unpack(actives, i, math.min(i + 999, #actives)))
end
return {requeued, failed}
`;

const BATCH_SUCCESS = `
-- KEYS: batch, done, failed(hash); ARGV: jobId, now
if redis.call('exists', KEYS[1]) == 0 then return {0, 0, 0} end
if redis.call('sadd', KEYS[2], ARGV[1]) == 0 then return {0, 0, 0} end
local pending = redis.call('hincrby', KEYS[1], 'pending', -1)
if redis.call('hdel', KEYS[3], ARGV[1]) == 1 then redis.call('hincrby', KEYS[1], 'failed', -1) end
local failed = tonumber(redis.call('hget', KEYS[1], 'failed'))
local runThen, runFinally = 0, 0
if pending == 0 and redis.call('hexists', KEYS[1], 'cancelledAt') == 0 then
  runThen = redis.call('hsetnx', KEYS[1], 'thenRan', ARGV[2])
end
if pending - failed <= 0 then
  redis.call('hset', KEYS[1], 'finishedAt', ARGV[2])
  runFinally = redis.call('hsetnx', KEYS[1], 'finallyRan', ARGV[2])
end
return {1, runThen, runFinally}
`;

const BATCH_FAILURE = `
-- KEYS: batch, failed(hash); ARGV: jobId, now, envelope
if redis.call('exists', KEYS[1]) == 0 then return {0, 0, 0} end
if redis.call('hsetnx', KEYS[2], ARGV[1], ARGV[3]) == 0 then return {0, 0, 0} end
local failed = redis.call('hincrby', KEYS[1], 'failed', 1)
local runCatch = redis.call('hsetnx', KEYS[1], 'firstFailureAt', ARGV[2])
if redis.call('hget', KEYS[1], 'allowFailures') ~= '1' then
  redis.call('hsetnx', KEYS[1], 'cancelledAt', ARGV[2])
end
local pending = tonumber(redis.call('hget', KEYS[1], 'pending'))
local runFinally = 0
if pending - failed <= 0 then
  redis.call('hset', KEYS[1], 'finishedAt', ARGV[2])
  runFinally = redis.call('hsetnx', KEYS[1], 'finallyRan', ARGV[2])
end
return {1, runCatch, runFinally}
`;

const BATCH_TAKE_FAILED = `
-- KEYS: batch, failed(hash). Takes every failed job out of the batch's failed set, for a retry.
local all = redis.call('hgetall', KEYS[2])
if #all == 0 then return {} end
redis.call('del', KEYS[2])
redis.call('hincrby', KEYS[1], 'failed', -(#all / 2))
redis.call('hdel', KEYS[1], 'finishedAt', 'cancelledAt')
return all
`;

const METRIC_FLUSH = `
-- KEYS: metric hash; ARGV: ttl ms, number of increments n, then n field/increment pairs, then field/max pairs.
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('hincrby', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  local cur = tonumber(redis.call('hget', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
redis.call('pexpire', KEYS[1], ARGV[1])
return 1
`;

const INDEX_WRITE = `
-- Job index updates of many jobs at once. Per record: jobKey, ttl ms, then counted sections: hset pairs, hdel
-- fields, zadd triples, zrem pairs, hdel pairs (other hashes), sadd pairs, delete-if-equal pairs. The keys are
-- computed by the caller (standalone Redis; not cluster-safe by design).
local a = ARGV
local i, n = 1, #a
while i <= n do
  local key, ttl = a[i], tonumber(a[i + 1])
  i = i + 2
  local c = tonumber(a[i]); i = i + 1
  if c > 0 then redis.call('hset', key, unpack(a, i, i + 2 * c - 1)); i = i + 2 * c end
  c = tonumber(a[i]); i = i + 1
  if c > 0 then redis.call('hdel', key, unpack(a, i, i + c - 1)); i = i + c end
  if ttl > 0 then redis.call('pexpire', key, ttl) end
  c = tonumber(a[i]); i = i + 1
  for _ = 1, c do redis.call('zadd', a[i], a[i + 1], a[i + 2]); i = i + 3 end
  c = tonumber(a[i]); i = i + 1
  for _ = 1, c do redis.call('zrem', a[i], a[i + 1]); i = i + 2 end
  c = tonumber(a[i]); i = i + 1
  for _ = 1, c do redis.call('hdel', a[i], a[i + 1]); i = i + 2 end
  c = tonumber(a[i]); i = i + 1
  for _ = 1, c do redis.call('sadd', a[i], a[i + 1]); i = i + 2 end
  c = tonumber(a[i]); i = i + 1
  for _ = 1, c do
    if redis.call('get', a[i]) == a[i + 1] then redis.call('del', a[i]) end
    i = i + 2
  end
end
return 1
`;

const DEL_IF_EQ = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
`;

const RENEW_IF_EQ = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
`;

const DEFS = {
  keelFetch: { lua: FETCH, keys: 3 },
  keelStalls: { lua: STALLS, keys: 5 },
  keelBatchSuccess: { lua: BATCH_SUCCESS, keys: 3 },
  keelBatchFailure: { lua: BATCH_FAILURE, keys: 2 },
  keelBatchTakeFailed: { lua: BATCH_TAKE_FAILED, keys: 2 },
  keelMetricFlush: { lua: METRIC_FLUSH, keys: 1 },
  keelIndexWrite: { lua: INDEX_WRITE, keys: 0 },
  keelDelIfEq: { lua: DEL_IF_EQ, keys: 1 },
  keelRenewIfEq: { lua: RENEW_IF_EQ, keys: 1 },
} as const;

type Name = keyof typeof DEFS;
type Target = Redis | ChainableCommander;
type Arg = string | number;

function call(name: Name) {
  return (target: Target, keys: string[], args: Arg[]): Promise<unknown> => {
    const fn = (target as unknown as Record<string, ((...a: Arg[]) => Promise<unknown>) | undefined>)[name];
    if (!fn) throw new Error(`Redis script ${name} is not defined on this connection; call defineScripts()`);
    return fn.call(target, ...keys, ...args);
  };
}

/** Registers the scripts on a connection once (pipelines made from it inherit them). */
export function defineScripts(redis: Redis): void {
  for (const [name, def] of Object.entries(DEFS)) {
    if (!(name in redis)) redis.defineCommand(name, { lua: def.lua, numberOfKeys: def.keys });
  }
}

export const scripts = {
  fetch: call('keelFetch'),
  stalls: call('keelStalls'),
  batchSuccess: call('keelBatchSuccess'),
  batchFailure: call('keelBatchFailure'),
  batchTakeFailed: call('keelBatchTakeFailed'),
  metricFlush: call('keelMetricFlush'),
  indexWrite: call('keelIndexWrite'),
  delIfEq: call('keelDelIfEq'),
  renewIfEq: call('keelRenewIfEq'),
};
