-- sesame session registry: one operation, one round trip (EVALSHA).
-- The rules of src/registry/rules.rs, transcribed; tests/registry.rs runs
-- the same suite against both.
--
-- KEYS[1]  <prefix>:{<user_id>}:sessions   a hash: session ID (32 hex) -> entry
-- ARGV     op, now, max_sessions, grace, touch_interval, tombstone_ttl,
--          browser idle, browser absolute, remember-me idle, remember-me absolute,
--          then the operation's own arguments (session ID, fingerprints, ...).
-- entry    cmsgpack array: 1 kind, 2 created_at, 3 last_seen_at, 4 expires_at,
--          5 fingerprint (32 hex), 6 fingerprint_seen (0/1), 7 previous ('' none),
--          8 rotated_at, 9 ended (0 live, else EndReason code), 10 ended_at,
--          11 device, 12 ip
-- The key's TTL is kept at least the latest expires_at of its entries, so a
-- user who never comes back leaves nothing behind; expired entries are
-- dropped whenever the user's key is touched.
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
local touch = tonumber(ARGV[5])
local tomb = tonumber(ARGV[6])
local limits = {[0] = {tonumber(ARGV[7]), tonumber(ARGV[8])}, [1] = {tonumber(ARGV[9]), tonumber(ARGV[10])}}
local LIVE, GRACE, REVOKED, UNKNOWN, THEFT = 0, 1, 2, 3, 4
local R_REVOKED, R_LOGOUT, R_EVICTED, R_THEFT = 1, 2, 3, 4

local function expires(kind, created, last)
  local l = limits[kind]
  local a, b = created + l[2], last + l[1]
  if a < b then return a end
  return b
end

local function put(sid, e)
  if e[4] <= now then
    redis.call('HDEL', key, sid)
    return
  end
  redis.call('HSET', key, sid, cmsgpack.pack(e))
  local want = e[4] - now
  if want > redis.call('TTL', key) then redis.call('EXPIRE', key, want) end
end

local function get(sid)
  local v = redis.call('HGET', key, sid)
  if not v then return nil end
  local e = cmsgpack.unpack(v)
  if e[4] <= now then
    redis.call('HDEL', key, sid)
    return nil
  end
  return e
end

local function load()
  local raw = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #raw, 2 do
    local e = cmsgpack.unpack(raw[i + 1])
    if e[4] <= now then redis.call('HDEL', key, raw[i]) else t[#t + 1] = {raw[i], e} end
  end
  return t
end

local function finish(sid, e, reason)
  e[9] = reason
  e[10] = now
  if now + tomb < e[4] then e[4] = now + tomb end
  put(sid, e)
end

local function standing(e, fp)
  if e[5] == fp then return 'current' end
  if e[7] ~= '' and e[7] == fp and (now < e[8] + grace or e[6] == 0) then return 'previous' end
  return 'stale'
end

-- (created_at, last_seen_at, session ID), the rules' age order
local function older(a, b)
  if a[2][2] ~= b[2][2] then return a[2][2] < b[2][2] end
  if a[2][3] ~= b[2][3] then return a[2][3] < b[2][3] end
  return a[1] < b[1]
end

if op == 'register' then
  local sid, fp, kind, device, ip = ARGV[11], ARGV[12], tonumber(ARGV[13]), ARGV[14], ARGV[15]
  redis.call('HDEL', key, sid)
  local live, tombs = {}, {}
  for _, p in ipairs(load()) do
    if p[1] ~= sid then
      if p[2][9] == 0 then live[#live + 1] = p else tombs[#tombs + 1] = p end
    end
  end
  local evicted = 0
  if cap > 0 then
    table.sort(live, older)
    while #live - evicted >= cap do
      local p = live[evicted + 1]
      finish(p[1], p[2], R_EVICTED)
      if p[2][4] > now then tombs[#tombs + 1] = p end
      evicted = evicted + 1
    end
    table.sort(tombs, function(a, b)
      if a[2][10] ~= b[2][10] then return a[2][10] < b[2][10] end
      return a[1] < b[1]
    end)
    local i = 1
    while #tombs - (i - 1) > cap do
      redis.call('HDEL', key, tombs[i][1])
      i = i + 1
    end
  end
  put(sid, {kind, now, now, expires(kind, now, now), fp, 0, '', now, 0, 0, device, ip})
  return {LIVE, evicted}
end

if op == 'list' then
  local out = {}
  for _, p in ipairs(load()) do
    local e = p[2]
    if e[9] == 0 then
      out[#out + 1] = {p[1], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[11], e[12]}
    end
  end
  table.sort(out, function(a, b)
    if a[3] ~= b[3] then return a[3] > b[3] end
    if a[4] ~= b[4] then return a[4] > b[4] end
    return a[1] > b[1]
  end)
  return out
end

if op == 'revoke_all' or op == 'revoke_others' then
  local keep = ARGV[11]
  local n = 0
  for _, p in ipairs(load()) do
    if p[2][9] == 0 and (op == 'revoke_all' or p[1] ~= keep) then
      finish(p[1], p[2], R_REVOKED)
      n = n + 1
    end
  end
  return {REVOKED, n}
end

-- one session: peek, check, refresh, revoke, logout
local sid = ARGV[11]
local e = get(sid)
if not e then return {UNKNOWN, 0} end
if e[9] ~= 0 then return {REVOKED, 0} end
if op == 'peek' then return {LIVE, 0} end
if op == 'revoke' then
  finish(sid, e, R_REVOKED)
  return {REVOKED, 1}
end
local s = standing(e, ARGV[12])
if op == 'logout' then
  if s == 'stale' then
    finish(sid, e, R_THEFT)
    return {THEFT, 1}
  end
  finish(sid, e, R_LOGOUT)
  return {REVOKED, 1}
end
if s == 'stale' then
  finish(sid, e, R_THEFT)
  return {THEFT, 1}
end
if op == 'check' then
  if s == 'previous' then return {GRACE, 0} end
  if e[6] == 0 or now >= e[3] + touch then
    e[6] = 1
    if now > e[3] then e[3] = now end
    e[4] = expires(e[1], e[2], e[3])
    put(sid, e)
  end
  return {LIVE, 0}
end
if op == 'refresh' then
  if s == 'previous' and now < e[8] + grace then return {GRACE, 0} end
  if s == 'current' then e[7] = e[5] end
  e[5] = ARGV[13]
  e[6] = 0
  e[8] = now
  if now > e[3] then e[3] = now end
  e[4] = expires(e[1], e[2], e[3])
  put(sid, e)
  return {LIVE, 0}
end
return redis.error_reply('sesame registry: unknown operation ' .. tostring(op))
