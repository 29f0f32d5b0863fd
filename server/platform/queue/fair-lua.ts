// The Lua of fairness between organizations (ADR 0024), used by the scripts in scripts.ts. A job of an
// organization waits in that organization's list (`orgWaiting + org`), never in bee's `waiting`; `orgs` holds each
// organization with waiting jobs once, in turn order; `orgOf` maps a job to its organization for as long as the
// queue holds it; `running` counts each organization's jobs in `active`; `capped` holds the organizations a take
// left with waiting jobs because of their cap, so the end of one of their jobs tells idle consumers (`ready`).

const CHUNKED = `
local function chunked(cmd, key, list)
  for j = 1, #list, 7000 do redis.call(cmd, key, unpack(list, j, math.min(j + 6999, #list))) end
end
`;

/**
 * `enqueue` makes a job takeable: onto its organization's list (the organization joining the back of the turn order
 * when its list was empty) or onto `waiting`; `front` puts it next in line (a job handed back). True when the list
 * was empty, so consumers idle on this queue are told (`ready`). `leaveActive` takes a job out of `active` and its
 * organization's running count; its second result is true when that freed a slot of an organization held back by
 * its cap (consumers are told too). `org` may be given; otherwise `orgOf` says.
 */
export const FAIR_FN = `
local function enqueue(waiting, orgs, orgOf, prefix, id, front, org)
  if org == nil then org = redis.call('hget', orgOf, id) end
  local list = waiting
  if org then list = prefix .. org end
  local len = redis.call(front and 'rpush' or 'lpush', list, id)
  if org and len == 1 then redis.call('lpush', orgs, org) end
  return len == 1
end
local function leaveActive(active, orgOf, running, capped, id)
  local n = redis.call('lrem', active, 0, id)
  local freed = false
  if n > 0 then
    local org = redis.call('hget', orgOf, id)
    if org then
      if redis.call('hincrby', running, org, -n) <= 0 then redis.call('hdel', running, org) end
      freed = redis.call('srem', capped, org) == 1
    end
  end
  return n, freed
end
`;

/** How many organizations one take looks at, in turn order (the rest wait for later takes). */
const WINDOW = 200;

export const FETCH = `${CHUNKED}
-- KEYS: waiting, active, jobs, stalling, orgs, running, tiers, turn (hash), orgOf, capped. ARGV: max jobs,
-- organization list prefix, then per plan tier: tier, cap, weight ('free' always given). Takes up to n jobs, oldest
-- first within each list, and moves them to active as bee's BRPOPLPUSH does. Organizations are served in turn, each up to its tier's
-- weight per visit and never past its tier's cap of running jobs; the plain 'waiting' list has one turn per round.
-- A taken job leaves the stalling set at once (bee does it when a job starts): a mark left from an earlier stay in
-- active must not make the stall checker take it back before the consumer's next renewal.
local n, prefix = tonumber(ARGV[1]), ARGV[2]
local caps, weights = {}, {}
for i = 3, #ARGV, 3 do
  caps[ARGV[i]] = tonumber(ARGV[i + 1])
  weights[ARGV[i]] = tonumber(ARGV[i + 2])
end
local taken, owner = {}, {}
local function takeFrom(list, k, org)
  local ids = redis.call('lrange', list, -k, -1)
  if #ids == 0 then return 0 end
  redis.call('ltrim', list, 0, -#ids - 1)
  for j = #ids, 1, -1 do
    taken[#taken + 1] = ids[j]
    owner[#taken] = org
  end
  return #ids
end
local ringLen = redis.call('llen', KEYS[5])
if ringLen == 0 then
  takeFrom(KEYS[1], n, false)
else
  local m = math.min(ringLen, ${WINDOW})
  local window = redis.call('lrange', KEYS[5], -m, -1)
  local t = {}
  for j = m, 1, -1 do t[#t + 1] = window[j] end
  local tiers = redis.call('hmget', KEYS[7], unpack(t))
  local running = redis.call('hmget', KEYS[6], unpack(t))
  local avail, weight, want, len, free = {}, {}, {}, {}, {}
  -- An organization's list is read when its turn first comes in this call: most takes visit a few.
  local function visit(j)
    if len[j] then return end
    local tier = tiers[j]
    if not tier or not caps[tier] then tier = 'free' end
    len[j] = redis.call('llen', prefix .. t[j])
    free[j] = caps[tier] - tonumber(running[j] or 0)
    avail[j] = math.max(0, math.min(free[j], len[j]))
    weight[j] = weights[tier]
    want[j] = 0
  end
  local plain = redis.call('llen', KEYS[1])
  local plainWant, count, visits, idle = 0, 0, 0, 0
  -- Between calls: org visits since the plain list's turn, and what is left of the turn of the organization next
  -- in line when the last call ran out of slots in the middle of it (so weights hold for takes of one job).
  local state = redis.call('hmget', KEYS[8], 'n', 'o', 'c')
  local turn = tonumber(state[1] or '0')
  local credit = 0
  if state[2] == t[1] then credit = tonumber(state[3] or '0') end
  local leftOver = 0
  while count < n do
    if idle >= m then
      -- A whole round gave nothing (caps reached, lists drained): the rest comes from 'waiting'.
      local k = math.min(n - count, plain - plainWant)
      plainWant = plainWant + k
      count = count + k
      break
    end
    if turn >= ringLen then
      turn = 0
      if plainWant < plain then
        plainWant = plainWant + 1
        count = count + 1
      end
    else
      local j = visits % m + 1
      visit(j)
      local quota = weight[j]
      if visits == 0 and credit > 0 then quota = math.min(credit, quota) end
      local k = math.min(quota, avail[j] - want[j], n - count)
      want[j] = want[j] + k
      count = count + k
      if k > 0 then idle = 0 else idle = idle + 1 end
      if k < quota and count == n and avail[j] > want[j] then
        -- Out of slots in the middle of this organization's turn: it stays next in line for the rest.
        leftOver = quota - k
        break
      end
      visits = visits + 1
      turn = turn + 1
    end
  end
  -- The organizations whose turn ended go to the back of the turn order, in the order they were visited.
  local r = math.min(visits, m)
  if ringLen == m then r = visits % m end
  for _ = 1, r do redis.call('rpoplpush', KEYS[5], KEYS[5]) end
  local nextOrg = ''
  if leftOver > 0 then nextOrg = t[visits % m + 1] end
  redis.call('hset', KEYS[8], 'n', turn, 'o', nextOrg, 'c', leftOver)
  for j = 1, m do
    if len[j] then
      if want[j] > 0 then
        takeFrom(prefix .. t[j], want[j], t[j])
        redis.call('hincrby', KEYS[6], t[j], want[j])
      end
      if len[j] == want[j] then
        redis.call('lrem', KEYS[5], 1, t[j])
      elseif want[j] >= free[j] then
        redis.call('sadd', KEYS[10], t[j])
      end
    end
  end
  if plainWant > 0 then takeFrom(KEYS[1], plainWant, false) end
end
if #taken == 0 then return {} end
chunked('lpush', KEYS[2], taken)
local data = redis.call('hmget', KEYS[3], unpack(taken))
local out = {}
for j = 1, #taken do
  if data[j] then
    out[#out + 1] = taken[j]
    out[#out + 1] = data[j]
  else
    -- Removed while it waited: no job to run.
    redis.call('lrem', KEYS[2], 0, taken[j])
    if owner[j] then
      redis.call('hincrby', KEYS[6], owner[j], -1)
      redis.call('hdel', KEYS[9], taken[j])
    end
  end
end
chunked('srem', KEYS[4], taken)
return out
`;

export const GIVE_BACK = `${FAIR_FN}
-- KEYS: active, stalling, waiting, orgs, orgOf, running, ready, capped. ARGV: organization list prefix, then ids.
-- Jobs taken and not run (a stopping consumer) go back to the front of their lists.
local woke = false
for i = 2, #ARGV do
  local id = ARGV[i]
  redis.call('srem', KEYS[2], id)
  local n, freed = leaveActive(KEYS[1], KEYS[5], KEYS[6], KEYS[8], id)
  if freed then woke = true end
  if n > 0 and enqueue(KEYS[3], KEYS[4], KEYS[5], ARGV[1], id, true) then woke = true end
end
if woke then redis.call('publish', KEYS[7], '1') end
return 1
`;

export const QUEUED = `
-- KEYS: waiting, orgs. ARGV: organization list prefix. Jobs waiting in the queue, all lists; then the id next in
-- line of 'waiting' and of each organization's list (at most 1,000), for the oldest wait.
local total = redis.call('llen', KEYS[1])
local heads = {}
local head = redis.call('lindex', KEYS[1], -1)
if head then heads[#heads + 1] = head end
for i, org in ipairs(redis.call('lrange', KEYS[2], 0, -1)) do
  local list = ARGV[1] .. org
  total = total + redis.call('llen', list)
  if i <= 1000 then
    head = redis.call('lindex', list, -1)
    if head then heads[#heads + 1] = head end
  end
end
return {total, heads}
`;

export const ORG_LOAD = `
-- KEYS: orgs, running, tiers. ARGV: organization list prefix, limit. Per organization with waiting or running jobs
-- (at most limit, busiest first is the caller's sort): id, waiting, running, tier ('' = free).
local seen, out = {}, {}
local function add(org)
  if seen[org] or #out >= tonumber(ARGV[2]) * 4 then return end
  seen[org] = true
  out[#out + 1] = org
  out[#out + 1] = redis.call('llen', ARGV[1] .. org)
  out[#out + 1] = tonumber(redis.call('hget', KEYS[2], org) or '0')
  out[#out + 1] = redis.call('hget', KEYS[3], org) or ''
end
for _, org in ipairs(redis.call('hkeys', KEYS[2])) do add(org) end
for _, org in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do add(org) end
return out
`;

export const WAITING_PAGE = `
-- KEYS: waiting, orgs. ARGV: organization list prefix, offset, limit. One page of the jobs waiting in a queue, next
-- to run first within each list: 'waiting', then each organization's list in turn order. Replies {total, ids}.
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local lists = {KEYS[1]}
local ring = redis.call('lrange', KEYS[2], 0, -1)
for j = #ring, 1, -1 do lists[#lists + 1] = ARGV[1] .. ring[j] end
local total, ids = 0, {}
for _, list in ipairs(lists) do
  local len = redis.call('llen', list)
  local from = math.max(offset - total, 0)
  local to = math.min(offset + limit - total, len) - 1
  if from <= to then
    local part = redis.call('lrange', list, -(to + 1), -(from + 1))
    for j = #part, 1, -1 do ids[#ids + 1] = part[j] end
  end
  total = total + len
end
return {total, ids}
`;
