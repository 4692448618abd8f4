-- Atomic intake of one delivery: dedup, incident upsert, timeline, and ARQ jobs, in one step.
-- Either all of it is in Redis or none of it is, so a 202 always means "held, with its job".
-- KEYS: none (all keys derive from the alerts; plantao runs on a single Redis, not a cluster).
-- ARGV[1] now (ms), ARGV[2] timeline cap, ARGV[3] job expiry (ms), ARGV[4] queue name,
-- ARGV[5] alert-key TTL (s), ARGV[6] flapping window (ms), ARGV[7] JSON list of alert records
-- (built by core/store.py `_record`); optional ARGV[8] JSON {outcome: counter hash field} and
-- ARGV[9] the counters hash (core/metrics.py `alert_counter_fields`): count what was stored.
local now = ARGV[1]
local cap = tonumber(ARGV[2])
local job_ttl = tonumber(ARGV[3])
local queue = ARGV[4]
local alert_ttl = tonumber(ARGV[5])
local flap_ms = tonumber(ARGV[6])
local records = cjson.decode(ARGV[7])
local P = 'plantao:'

local function ikey(id) return P .. 'incident:' .. id end

-- Timeline entries are kept per incident and written at the end, one RPUSH and one LTRIM per
-- incident instead of per entry (nothing here reads a timeline, and trimming once to the newest
-- `cap` keeps what trimming after every push kept): a new incident from a 10-alert delivery
-- has 12 entries, which took 24 commands.
local timelines, entries_of = {}, {} -- incident ids in first-entry order; id -> its entries
local at = tonumber(now)
local function timeline(id, actor, event, detail)
  local list = entries_of[id]
  if not list then
    list = {}
    entries_of[id] = list
    table.insert(timelines, id)
  end
  table.insert(list, cjson.encode({at = at, actor = actor, event = event, detail = detail}))
end

local unpack = unpack or table.unpack -- Lua 5.1 (Redis) or newer (fakeredis's lupa)
local function write_timelines()
  for _, id in ipairs(timelines) do
    local key, list = ikey(id) .. ':timeline', entries_of[id]
    for first = 1, #list, 500 do -- unpack puts every value on Lua's C stack: bounded batches
      redis.call('RPUSH', key, unpack(list, first, math.min(first + 499, #list)))
    end
    redis.call('LTRIM', key, -cap, -1)
  end
end

-- An ARQ job as arq.jobs.serialize_job writes it (JSON serializer); ids are deterministic.
local function enqueue(job_id, fn, id, extra)
  local job_key = 'arq:job:' .. job_id
  if redis.call('EXISTS', job_key, 'arq:result:' .. job_id) == 0 then
    local args = '"' .. id .. '"'
    if extra then args = args .. ',"' .. extra .. '"' end
    local job = '{"t":null,"f":"' .. fn .. '","a":[' .. args .. '],"k":{},"et":' .. now .. '}'
    redis.call('PSETEX', job_key, job_ttl, job)
    redis.call('ZADD', queue, now, job_id)
    timeline(id, 'plantao', 'job.enqueued', fn .. ' as ' .. job_id)
  end
end

local function announce(id, announced)
  if announced ~= '1' then
    redis.call('HSET', ikey(id), 'announced', '1')
    enqueue('incident:' .. id .. ':open', 'handle_incident', id)
  end
end

local function is_open(id)
  local state = redis.call('HGET', ikey(id), 'state')
  return state and state ~= 'resolved'
end

local function create(a)
  local id = tostring(redis.call('INCR', P .. 'seq:incident'))
  redis.call('HSET', ikey(id),
    'id', id, 'group', a.group, 'service', a.service, 'scenario', a.scenario,
    'severity', a.severity, 'state', 'triggered', 'summary', a.summary, 'rule', a.rule,
    'why', a.why, 'source', a.source, 'sources', a.source, 'link', a.link, 'labels', a.labels,
    'first_seen', now, 'last_seen', now, 'alert_count', 0, 'duplicates', 0, 'suppressed', 0,
    'reopened', 0, 'escalation', 0, 'announced', '0', 'silenced_by', '',
    'unsigned', a.unsigned and '1' or '0', 'schema', 2)
  redis.call('ZADD', P .. 'incidents', now, id)
  timeline(id, a.source, 'incident.opened', a.scenario .. ' ' .. a.severity .. ' on ' .. a.service)
  return id
end

local function reopen(id, a)
  local n = redis.call('HINCRBY', ikey(id), 'reopened', 1)
  redis.call('HSET', ikey(id), 'state', 'triggered', 'resolved_at', '')
  timeline(id, a.source, 'incident.reopened', 'fired again within the flapping window')
  if redis.call('SET', ikey(id) .. ':flapping', now, 'NX', 'PX', flap_ms) then
    enqueue('incident:' .. id .. ':reopened:' .. n, 'notify_incident', id, 'reopened')
  end
end

-- The open incident of the alert's group: an open one, a resolved one still flapping, or new.
local function incident_for(a)
  local okey = P .. 'open:' .. a.group
  local id = redis.call('GET', okey)
  if id then return id, false end
  local recent = redis.call('GET', P .. 'recent:' .. a.group)
  if recent and redis.call('HGET', ikey(recent), 'state') == 'resolved' then
    id = recent
    reopen(id, a)
  else
    id = create(a)
  end
  redis.call('SET', okey, id)
  redis.call('HSET', P .. 'svc:' .. a.service, a.scenario, id)
  redis.call('ZADD', P .. 'open-incidents', now, id)
  return id, true
end

local function inhibitor_of(a)
  if #a.inhibitors == 0 then return nil end
  local ids = redis.call('HMGET', P .. 'svc:' .. a.service, unpack(a.inhibitors))
  for i = 1, #a.inhibitors do
    local id = ids[i]
    if id then
      local found = redis.call('HMGET', ikey(id), 'state', 'severity')
      if found[1] and found[1] ~= 'resolved' and found[2] <= a.inhibit_max then
        return id
      end
    end
  end
  return nil
end

local mitigated = {}
-- Time to mitigate of an incident that resolved by itself: observed once per incident (the
-- `mitigated_at` field, which a responder's move to monitoring or resolved sets too, in
-- core/metrics.py), and never after monitoring, which was its mitigation.
local function mitigation(id, prior)
  local key = ikey(id)
  if prior ~= 'monitoring' and redis.call('HSETNX', key, 'mitigated_at', now) == 1 then
    local first = tonumber(redis.call('HGET', key, 'first_seen'))
    local seconds = math.max(0, (tonumber(now) - first) / 1000)
    table.insert(mitigated, {id = id, severity = redis.call('HGET', key, 'severity'), seconds = seconds})
  end
end

local function resolve(id, a)
  local key = ikey(id)
  mitigation(id, redis.call('HGET', key, 'state'))
  redis.call('HSET', key, 'state', 'resolved', 'resolved_at', now)
  local group = redis.call('HGET', key, 'group')
  if redis.call('GET', P .. 'open:' .. group) == id then
    redis.call('DEL', P .. 'open:' .. group)
  end
  if flap_ms > 0 then
    redis.call('SET', P .. 'recent:' .. group, id, 'PX', flap_ms)
  end
  redis.call('ZREM', P .. 'open-incidents', id)
  if redis.call('EXISTS', key .. ':flapping') == 1 then
    timeline(id, a.source, 'incident.resolved', 'every firing alert has resolved; flapping: not notified')
  elseif redis.call('HGET', key, 'announced') == '1' then
    timeline(id, a.source, 'incident.resolved', 'every firing alert has resolved')
    local n = redis.call('HGET', key, 'reopened')
    enqueue('incident:' .. id .. ':resolved:' .. n, 'resolve_incident', id, n)
  else
    timeline(id, a.source, 'incident.resolved', 'every firing alert has resolved; never notified (silenced)')
  end
end

local counts = {accepted = 0, duplicates = 0, silenced = 0, suppressed = 0}
local touched, seen = {}, {}
local function touch(id)
  if id and not seen[id] then
    seen[id] = true
    table.insert(touched, id)
  end
end

local function firing(a, akey)
  local inhibitor = inhibitor_of(a)
  if inhibitor then
    counts.suppressed = counts.suppressed + 1
    redis.call('HINCRBY', ikey(inhibitor), 'suppressed', 1)
    timeline(inhibitor, a.source, 'alert.suppressed', a.scenario .. ' on ' .. a.service .. ' inhibited: ' .. a.detail)
    redis.call('HSET', akey, 'status', 'firing', 'starts', a.starts, 'incident', inhibitor, 'suppressed', inhibitor)
    return inhibitor
  end
  local id, opened = incident_for(a)
  local key = ikey(id)
  -- one read of the fields below (none of them is written before its use here)
  local current, sources, silenced_by, announced = unpack(
    redis.call('HMGET', key, 'severity', 'sources', 'silenced_by', 'announced'), 1, 4)
  if not opened and a.severity < current then
    redis.call('HSET', key, 'severity', a.severity)
    timeline(id, a.source, 'severity.raised', current .. ' -> ' .. a.severity)
    if announced == '1' then
      enqueue('incident:' .. id .. ':severity:' .. a.severity, 'notify_incident', id, 'severity')
    end
  end
  if not string.find(',' .. sources .. ',', ',' .. a.source .. ',', 1, true) then
    redis.call('HSET', key, 'sources', sources .. ',' .. a.source)
  end
  if a.link ~= '' then
    redis.call('HSET', key, 'link:' .. a.source, a.link, 'last_seen', now)
  else
    redis.call('HSET', key, 'last_seen', now)
  end
  redis.call('HINCRBY', key, 'alert_count', 1)
  redis.call('SADD', key .. ':firing', a.fp)
  if a.silenced ~= '' then
    counts.silenced = counts.silenced + 1
    redis.call('HSET', key, 'silenced_by', a.silenced)
    timeline(id, a.source, 'alert.silenced', 'by ' .. a.silenced .. ': ' .. a.detail)
  else
    if silenced_by ~= '' then
      redis.call('HSET', key, 'silenced_by', '')
    end
    timeline(id, a.source, 'alert.firing', a.detail)
    announce(id, announced)
  end
  redis.call('HSET', akey, 'status', 'firing', 'starts', a.starts, 'incident', id, 'suppressed', '')
  return id
end

local function resolved(a, akey, prev_incident, prev_suppressed)
  redis.call('HSET', akey, 'status', 'resolved', 'starts', a.starts)
  local id = prev_incident
  if not id then return nil end
  if prev_suppressed and prev_suppressed ~= '' then
    timeline(id, a.source, 'alert.resolved', 'suppressed alert ' .. a.detail)
    return id
  end
  local key = ikey(id)
  redis.call('SREM', key .. ':firing', a.fp)
  redis.call('HSET', key, 'last_seen', now)
  timeline(id, a.source, 'alert.resolved', a.detail)
  if is_open(id) and redis.call('SCARD', key .. ':firing') == 0 then
    resolve(id, a)
  end
  return id
end

for _, a in ipairs(records) do
  if a.deployment ~= '' then
    local dkey = P .. 'deploys:' .. a.service
    redis.call('ZADD', dkey, 'NX', now, a.deployment) -- a re-delivery keeps the first time
    redis.call('ZREMRANGEBYRANK', dkey, 0, -101)
  end
  local akey = P .. 'alert:' .. a.fp
  local status = a.firing and 'firing' or 'resolved'
  local prev = redis.call('HMGET', akey, 'status', 'starts', 'incident', 'suppressed')
  local duplicate = prev[1] == status and prev[2] == a.starts
  if duplicate and a.firing and prev[4] and prev[4] ~= '' and not is_open(prev[4]) then
    duplicate = false -- its inhibitor has gone: the alert now stands on its own
  end
  if duplicate then
    counts.duplicates = counts.duplicates + 1
    if prev[3] then
      redis.call('HINCRBY', ikey(prev[3]), 'duplicates', 1)
      touch(prev[3])
    end
  else
    counts.accepted = counts.accepted + 1
    if a.firing then
      touch(firing(a, akey))
    else
      touch(resolved(a, akey, prev[3], prev[4]))
    end
  end
  redis.call('EXPIRE', akey, alert_ttl)
end

write_timelines()

if ARGV[8] then
  for outcome, field in pairs(cjson.decode(ARGV[8])) do
    if counts[outcome] > 0 then redis.call('HINCRBY', ARGV[9], field, counts[outcome]) end
  end
end
counts.incidents = touched
counts.mitigated = mitigated
return cjson.encode(counts)
