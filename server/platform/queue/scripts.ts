import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { FAIR_FN, FETCH, GIVE_BACK, ORG_LOAD, QUEUED, WAITING_PAGE } from './fair-lua.ts';

// The queue layer's atomic steps, as Lua run through ioredis (EVALSHA with an automatic EVAL fallback).

// Lua's unpack() is bounded by its C stack (8,000 values); the batched calls below go in chunks under it.
const CHUNKED = `
local function chunked(cmd, key, list)
  for j = 1, #list, 7000 do redis.call(cmd, key, unpack(list, j, math.min(j + 6999, #list))) end
end
`;

const STALLS = `${FAIR_FN}
-- bee-queue's checkStalledJobs plus a stall count per job: over the limit a job is taken out instead of requeued.
-- KEYS: stallBlock, stalling, waiting, active, stallCounts, orgs, orgOf, running, ready, capped; ARGV: stallInterval ms,
-- maxStalls, organization list prefix. It also recounts each organization's running jobs from 'active' (ADR 0024),
-- so a count a crash left wrong is right again within a stall interval.
if not redis.call('set', KEYS[1], '1', 'PX', tonumber(ARGV[1]), 'NX') then
  return {{}, {}}
end
local requeued, failed = {}, {}
local woke = false
local stalling = redis.call('smembers', KEYS[2])
for _, id in ipairs(stalling) do
  local removed, freed = leaveActive(KEYS[4], KEYS[7], KEYS[8], KEYS[10], id)
  if freed then woke = true end
  if removed > 0 then
    local n = redis.call('hincrby', KEYS[5], id, 1)
    if n > tonumber(ARGV[2]) then
      failed[#failed + 1] = id
      redis.call('hdel', KEYS[7], id)
    else
      requeued[#requeued + 1] = id
      if enqueue(KEYS[3], KEYS[6], KEYS[7], ARGV[3], id, false) then woke = true end
    end
  end
end
redis.call('del', KEYS[2])
local actives = redis.call('lrange', KEYS[4], 0, -1)
local counts = {}
for i = 1, #actives, 1000 do
  local chunk = {unpack(actives, i, math.min(i + 999, #actives))}
  redis.call('sadd', KEYS[2], unpack(chunk))
  for _, org in ipairs(redis.call('hmget', KEYS[7], unpack(chunk))) do
    if org then counts[org] = (counts[org] or 0) + 1 end
  end
end
redis.call('del', KEYS[8])
for org, c in pairs(counts) do redis.call('hset', KEYS[8], org, c) end
if woke then redis.call('publish', KEYS[9], '1') end
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

// Job index updates of many jobs at once, from ARGV[i] on. Per record: key, ttl ms, JSON record, then counted
// sections: zadd triples, zrem pairs, hdel pairs, sadd pairs, delete-if-equal pairs. The writes to shared keys
// (recent, completed, tags…) are grouped into one call per key, removals before additions. The keys are computed
// by the caller (standalone Redis; not cluster-safe by design).
const INDEX_FN = `${CHUNKED}
local function writeIndex(a, i)
  local n = #a
  local zadds, zrems, hdels, sadds, seen = {}, {}, {}, {}, {}
  local function push(t, key, x, y)
    local g = t[key]
    if not g then g = {}; t[key] = g end
    g[#g + 1] = x
    if y then g[#g + 1] = y end
  end
  while i <= n do
    if tonumber(a[i + 1]) > 0 then
      redis.call('set', a[i], a[i + 2], 'PX', a[i + 1])
    else
      redis.call('set', a[i], a[i + 2])
    end
    i = i + 3
    local c = tonumber(a[i]); i = i + 1
    for _ = 1, c do push(zadds, a[i], a[i + 1], a[i + 2]); i = i + 3 end
    c = tonumber(a[i]); i = i + 1
    for _ = 1, c do push(zrems, a[i], a[i + 1]); i = i + 2 end
    c = tonumber(a[i]); i = i + 1
    for _ = 1, c do push(hdels, a[i], a[i + 1]); i = i + 2 end
    c = tonumber(a[i]); i = i + 1
    for _ = 1, c do
      -- Set members repeat across records (the search's key lists): each goes once.
      local s = seen[a[i]]
      if not s then s = {}; seen[a[i]] = s end
      if not s[a[i + 1]] then
        s[a[i + 1]] = true
        push(sadds, a[i], a[i + 1])
      end
      i = i + 2
    end
    c = tonumber(a[i]); i = i + 1
    for _ = 1, c do
      if redis.call('get', a[i]) == a[i + 1] then redis.call('del', a[i]) end
      i = i + 2
    end
  end
  for key, g in pairs(zrems) do chunked('zrem', key, g) end
  for key, g in pairs(zadds) do chunked('zadd', key, g) end
  for key, g in pairs(hdels) do chunked('hdel', key, g) end
  for key, g in pairs(sadds) do chunked('sadd', key, g) end
end
`;

const INDEX_WRITE = `${INDEX_FN}
writeIndex(ARGV, 1)
return 1
`;

const FINISH = `${INDEX_FN}${FAIR_FN}
-- The end of attempts of many jobs of one queue, and their index records, in one step (bee's _finishJob, batched).
-- KEYS: active, stalling, jobs, waiting, delayed, orgs, orgOf, running, ready, capped. ARGV: earlierDelayed channel, job
-- count, organization list prefix, then per job: id, op (done: out of the queue; again: back on its waiting list;
-- later: to delayed), job data (again/later), due time (later); then index records.
local n, i = tonumber(ARGV[2]), 4
local ids, done, data, again, later = {}, {}, {}, {}, {}
local earliest
local woke = false
for _ = 1, n do
  local id, op = ARGV[i], ARGV[i + 1]
  ids[#ids + 1] = id
  local _, freed = leaveActive(KEYS[1], KEYS[7], KEYS[8], KEYS[10], id)
  if freed then woke = true end
  if op == 'done' then
    done[#done + 1] = id
  else
    data[#data + 1] = id
    data[#data + 1] = ARGV[i + 2]
    if op == 'again' then
      again[#again + 1] = id
    else
      local due = tonumber(ARGV[i + 3])
      later[#later + 1] = due
      later[#later + 1] = id
      if not earliest or due < earliest then earliest = due end
    end
  end
  i = i + 4
end
chunked('srem', KEYS[2], ids)
chunked('hdel', KEYS[3], done)
chunked('hdel', KEYS[7], done)
chunked('hset', KEYS[3], data)
for _, id in ipairs(again) do
  if enqueue(KEYS[4], KEYS[6], KEYS[7], ARGV[3], id, false) then woke = true end
end
if woke then redis.call('publish', KEYS[9], '1') end
chunked('zadd', KEYS[5], later)
-- Workers (Keel's DelayedJobs, and bee-queue's own) re-arm their delayed-job timer from this channel.
if earliest then redis.call('publish', ARGV[1], earliest) end
writeIndex(ARGV, i)
return n
`;

const ADD_JOBS = `${FAIR_FN}
-- bee-queue's addJob and addDelayedJob (ADR 0021), for many jobs of one queue in one call. KEYS: id counter, jobs,
-- waiting, delayed, earlierDelayed, orgs, orgOf, ready. ARGV: organization list prefix, then per job id ('' = the
-- next number, as bee gives), encoded record, due time (0 = now), organization ('' = none: bee's 'waiting'). An id
-- the queue already holds is refused: its reply is nil. A delayed job that becomes the earliest one is announced on
-- earlierDelayed, where every worker re-arms its timer (bee's workers too); a job in an empty list on ready.
local out = {}
local woke = false
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if id == '' then id = tostring(redis.call('incr', KEYS[1])) end
  if redis.call('hexists', KEYS[2], id) == 1 then
    out[#out + 1] = false
  else
    redis.call('hset', KEYS[2], id, ARGV[i + 1])
    local org = false
    if ARGV[i + 3] ~= '' then
      org = ARGV[i + 3]
      redis.call('hset', KEYS[7], id, org)
    end
    local due = tonumber(ARGV[i + 2])
    if due > 0 then
      redis.call('zadd', KEYS[4], due, id)
      if redis.call('zrange', KEYS[4], 0, 0)[1] == id then redis.call('publish', KEYS[5], ARGV[i + 2]) end
    elseif enqueue(KEYS[3], KEYS[6], KEYS[7], ARGV[1], id, false, org) then
      woke = true
    end
    out[#out + 1] = id
  end
end
if woke then redis.call('publish', KEYS[8], '1') end
return out
`;

const RAISE_DELAYED = `${FAIR_FN}
-- bee-queue's raiseDelayedJobs: every delayed job now due moves to its waiting list. KEYS: delayed, waiting, orgs,
-- orgOf, ready. ARGV: now, debounce ms, organization list prefix. Replies the number raised and the due time to wake
-- up for next (the latest one within the debounce window after the earliest left, so jobs due close together are
-- raised by one call), or -1 with none left.
local due = redis.call('zrangebyscore', KEYS[1], 0, ARGV[1])
local woke = false
for _, id in ipairs(due) do
  if enqueue(KEYS[2], KEYS[3], KEYS[4], ARGV[3], id, false) then woke = true end
end
if woke then redis.call('publish', KEYS[5], '1') end
redis.call('zremrangebyscore', KEYS[1], 0, ARGV[1])
local head = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
local nextAt = -1
if head[2] then
  local last = redis.call('zrevrangebyscore', KEYS[1], tonumber(head[2]) + tonumber(ARGV[2]), 0, 'WITHSCORES', 'LIMIT', 0, 1)
  nextAt = tonumber(last[2])
end
return {#due, nextAt}
`;

const DEL_IF_EQ = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
`;

const LOCK_TAKE = `
-- KEYS: lock; ARGV: holder, ttl ms. Taken when free or already this holder's (an earlier attempt of the same job,
-- whose worker died before it could release it), with a fresh TTL.
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

const TRIM_TAGS = `
-- KEYS: the set of tags; ARGV: tag list key prefix, cutoff. Trims each tag's list and forgets tags left empty, in
-- one step, so an entry written meanwhile (zadd + sadd in one script) cannot lose its tag.
for _, tag in ipairs(redis.call('smembers', KEYS[1])) do
  local key = ARGV[1] .. tag
  redis.call('zremrangebyscore', key, 0, ARGV[2])
  if redis.call('zcard', key) == 0 then redis.call('srem', KEYS[1], tag) end
end
return 1
`;

const RENEW_IF_EQ = `
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
`;

const SEARCH = `
-- Job search (ADR 0026). KEYS: sorted sets of job ids by dispatch time; a match is in each of the first #KEYS - x
-- and in none of the last x. ARGV: max, min (scores), cursor score ('' = from max), members of that score already
-- returned, limit, budget, x. Walks the set with the fewest entries in [min, max] among the first ones, from the
-- newest down, and checks the others by ZSCORE, until limit matches or budget entries walked. Replies matches (id,
-- score pairs), the cursor (score, count), 1 when the walk reached min, and the number of entries walked.
local max, min = ARGV[1], ARGV[2]
local cs, skip = ARGV[3], tonumber(ARGV[4])
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local must = #KEYS - tonumber(ARGV[7])
local best, bestN
for k = 1, must do
  local n = redis.call('zcount', KEYS[k], min, max)
  if n == 0 then return {{}, '', 0, 1, 0} end
  if not bestN or n < bestN then best, bestN = k, n end
end
local upper = max
if cs ~= '' then upper = cs end
local out, walked, off = {}, 0, 0
local lastS, run = cs, skip
-- Chunks start small (a dense match needs few entries) and double while the filter finds little.
local size = math.max(32, limit + skip)
while true do
  local chunk = redis.call('zrevrangebyscore', KEYS[best], upper, min, 'WITHSCORES', 'LIMIT', off, size)
  if #chunk == 0 then return {out, lastS, run, 1, walked} end
  off = off + #chunk / 2
  size = math.min(size * 2, 1024)
  for j = 1, #chunk, 2 do
    local id, s = chunk[j], chunk[j + 1]
    if skip > 0 and tonumber(s) == tonumber(cs) then
      skip = skip - 1
    else
      skip = 0
      walked = walked + 1
      local ok = true
      for k = 1, #KEYS do
        if k ~= best and (k <= must) ~= (redis.call('zscore', KEYS[k], id) ~= false) then
          ok = false
          break
        end
      end
      if ok then
        out[#out + 1] = id
        out[#out + 1] = s
      end
      if lastS ~= '' and tonumber(s) == tonumber(lastS) then run = run + 1 else lastS, run = s, 1 end
      if #out >= limit * 2 or walked >= budget then return {out, lastS, run, 0, walked} end
    end
  end
end
`;

const TRIM_KEYS = `
-- KEYS: a set of sorted-set key names; ARGV: cutoff, then some of its members. Trims each listed set and forgets
-- the ones left empty, in one step, so an entry written meanwhile (zadd + sadd together) keeps its key listed.
for i = 2, #ARGV do
  redis.call('zremrangebyscore', ARGV[i], 0, ARGV[1])
  if redis.call('zcard', ARGV[i]) == 0 then redis.call('srem', KEYS[1], ARGV[i]) end
end
return 1
`;

const CANCEL = `
-- KEYS: waiting, delayed, active, jobs, orgOf, orgs; ARGV: organization list prefix (ADR 0024), then ids. Takes
-- each job that is waiting (in bee's list or its organization's) or delayed out of its queue for good. Left alone:
-- a running job (it finishes), and a batch or chain step (its batch or chain would wait for it for ever: cancel the
-- batch instead). Replies id, record pairs of the jobs taken.
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local data = redis.call('hget', KEYS[4], id)
  if data and not redis.call('lpos', KEYS[3], id) then
    local env = cjson.decode(data).data
    if type(env) == 'table' and not env.batch and not env.chain then
      local org = redis.call('hget', KEYS[5], id)
      local removed = redis.call('lrem', KEYS[1], 0, id) + redis.call('zrem', KEYS[2], id)
      if org then
        local list = ARGV[1] .. org
        removed = removed + redis.call('lrem', list, 0, id)
        -- An emptied list leaves the turn order now rather than at its next turn.
        if redis.call('llen', list) == 0 then redis.call('lrem', KEYS[6], 0, org) end
      end
      if removed > 0 then
        redis.call('hdel', KEYS[4], id)
        redis.call('hdel', KEYS[5], id)
        out[#out + 1] = id
        out[#out + 1] = data
      end
    end
  end
end
return out
`;

const DEFS = {
  keelAddJobs: { lua: ADD_JOBS, keys: 8 },
  keelRaiseDelayed: { lua: RAISE_DELAYED, keys: 5 },
  keelFetch: { lua: FETCH, keys: 10 },
  keelFinish: { lua: FINISH, keys: 10 },
  keelStalls: { lua: STALLS, keys: 10 },
  keelBatchSuccess: { lua: BATCH_SUCCESS, keys: 3 },
  keelBatchFailure: { lua: BATCH_FAILURE, keys: 2 },
  keelBatchTakeFailed: { lua: BATCH_TAKE_FAILED, keys: 2 },
  keelMetricFlush: { lua: METRIC_FLUSH, keys: 1 },
  keelIndexWrite: { lua: INDEX_WRITE, keys: 0 },
  keelDelIfEq: { lua: DEL_IF_EQ, keys: 1 },
  keelRenewIfEq: { lua: RENEW_IF_EQ, keys: 1 },
  keelLockTake: { lua: LOCK_TAKE, keys: 1 },
  keelTrimTags: { lua: TRIM_TAGS, keys: 1 },
  keelGiveBack: { lua: GIVE_BACK, keys: 8 },
  keelQueued: { lua: QUEUED, keys: 2 },
  keelOrgLoad: { lua: ORG_LOAD, keys: 3 },
  keelWaitingPage: { lua: WAITING_PAGE, keys: 2 },
  keelTrimKeys: { lua: TRIM_KEYS, keys: 1 },
  keelCancel: { lua: CANCEL, keys: 6 },
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

/** Loads every script into the server's cache (the dispatcher does it before its first save). */
export async function loadScripts(redis: Redis): Promise<void> {
  await Promise.all(Object.values(DEFS).map((def) => redis.script('LOAD', def.lua)));
}

const isNoScript = (err: unknown) => err instanceof Error && err.message.startsWith('NOSCRIPT');

/**
 * A script always sent as EVALSHA, loaded again and repeated once on NOSCRIPT (a Redis restart or SCRIPT FLUSH), as
 * bee-queue sends its saves. For the request path: ioredis sends a script's whole text (EVAL) the first time on each
 * connection, so a request's Redis work would depend on whether it was the first; the password-reset test proves a
 * request for an unknown address does the same work as one for a known address.
 */
function callBySha(name: Name) {
  const def = DEFS[name];
  const sha = createHash('sha1').update(def.lua).digest('hex');
  return async (redis: Redis, keys: string[], args: Arg[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, def.keys, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      await redis.script('LOAD', def.lua);
      return redis.evalsha(sha, def.keys, ...keys, ...args);
    }
  };
}

export const scripts = {
  addJobs: callBySha('keelAddJobs'),
  raiseDelayed: call('keelRaiseDelayed'),
  fetch: call('keelFetch'),
  finish: call('keelFinish'),
  stalls: call('keelStalls'),
  batchSuccess: call('keelBatchSuccess'),
  batchFailure: call('keelBatchFailure'),
  batchTakeFailed: call('keelBatchTakeFailed'),
  metricFlush: call('keelMetricFlush'),
  indexWrite: call('keelIndexWrite'),
  delIfEq: call('keelDelIfEq'),
  renewIfEq: call('keelRenewIfEq'),
  lockTake: call('keelLockTake'),
  trimTags: call('keelTrimTags'),
  giveBack: call('keelGiveBack'),
  queued: call('keelQueued'),
  orgLoad: call('keelOrgLoad'),
  waitingPage: call('keelWaitingPage'),
  trimKeys: call('keelTrimKeys'),
  cancel: call('keelCancel'),
};

const SEARCH_SHA = createHash('sha1').update(SEARCH).digest('hex');

/** The job search script, whose number of keys varies with the filter (one per dimension). */
export async function searchScript(redis: Redis, keys: string[], args: Arg[]): Promise<unknown> {
  try {
    return await redis.evalsha(SEARCH_SHA, keys.length, ...keys, ...args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return redis.eval(SEARCH, keys.length, ...keys, ...args);
  }
}
