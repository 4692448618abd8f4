-- Atomic intake of one delivery: dedup, incident upsert, timeline, and ARQ job, in one step.
-- Either all of it is in Redis or none of it is, so a 202 always means "held, with its job".
-- KEYS: none (all keys derive from the alerts; plantao runs on a single Redis, not a cluster).
-- ARGV[1] now (ms), ARGV[2] timeline cap, ARGV[3] job expiry (ms), ARGV[4] queue name,
-- ARGV[5] alert-key TTL (s), ARGV[6] JSON list of alert records (see core/store.py).
local now = ARGV[1]
local cap = tonumber(ARGV[2])
local job_ttl = tonumber(ARGV[3])
local queue = ARGV[4]
local alert_ttl = tonumber(ARGV[5])
local records = cjson.decode(ARGV[6])
local P = 'plantao:'

local function timeline(id, actor, event, detail)
  local key = P .. 'incident:' .. id .. ':timeline'
  redis.call('RPUSH', key, cjson.encode({at = tonumber(now), actor = actor, event = event, detail = detail}))
  redis.call('LTRIM', key, -cap, -1)
end

local function enqueue(job_id, fn, id)
  local job_key = 'arq:job:' .. job_id
  if redis.call('EXISTS', job_key, 'arq:result:' .. job_id) == 0 then
    local job = '{"t":null,"f":"' .. fn .. '","a":["' .. id .. '"],"k":{},"et":' .. now .. '}'
    redis.call('PSETEX', job_key, job_ttl, job)
    redis.call('ZADD', queue, now, job_id)
    timeline(id, 'plantao', 'job.enqueued', fn .. ' as ' .. job_id)
  end
end

local accepted, duplicates = 0, 0
local touched, seen = {}, {}
local function touch(id)
  if id and not seen[id] then
    seen[id] = true
    table.insert(touched, id)
  end
end

for _, a in ipairs(records) do
  if a.deployment ~= '' then
    local dkey = P .. 'deploys:' .. a.service
    redis.call('ZADD', dkey, now, a.deployment)
    redis.call('ZREMRANGEBYRANK', dkey, 0, -101)
  end
  local akey = P .. 'alert:' .. a.fp
  local status = a.firing and 'firing' or 'resolved'
  local prev = redis.call('HMGET', akey, 'status', 'starts', 'incident')
  if prev[1] == status and prev[2] == a.starts then
    duplicates = duplicates + 1
    if prev[3] then
      redis.call('HINCRBY', P .. 'incident:' .. prev[3], 'duplicates', 1)
      touch(prev[3])
    end
  elseif a.firing then
    accepted = accepted + 1
    local okey = P .. 'open:' .. a.group
    local id = redis.call('GET', okey)
    if not id then
      id = tostring(redis.call('INCR', P .. 'seq:incident'))
      redis.call('SET', okey, id)
      redis.call('HSET', P .. 'incident:' .. id,
        'id', id, 'group', a.group, 'service', a.service, 'scenario', a.scenario,
        'severity', a.severity, 'state', 'triggered', 'summary', a.summary, 'rule', a.rule,
        'why', a.why, 'source', a.source, 'link', a.link, 'labels', a.labels,
        'first_seen', now, 'last_seen', now, 'alert_count', 0, 'duplicates', 0, 'schema', 1,
        'unsigned', a.unsigned and '1' or '0')
      redis.call('ZADD', P .. 'incidents', now, id)
      timeline(id, a.source, 'incident.opened', a.scenario .. ' ' .. a.severity .. ' on ' .. a.service)
      enqueue('incident:' .. id .. ':open', 'handle_incident', id)
    else
      local ikey = P .. 'incident:' .. id
      local current = redis.call('HGET', ikey, 'severity')
      if a.severity < current then
        redis.call('HSET', ikey, 'severity', a.severity)
        timeline(id, a.source, 'severity.raised', current .. ' -> ' .. a.severity)
      end
    end
    local ikey = P .. 'incident:' .. id
    redis.call('HINCRBY', ikey, 'alert_count', 1)
    redis.call('HSET', ikey, 'last_seen', now)
    redis.call('SADD', ikey .. ':firing', a.fp)
    timeline(id, a.source, 'alert.firing', a.detail)
    redis.call('HSET', akey, 'status', status, 'starts', a.starts, 'incident', id)
    redis.call('EXPIRE', akey, alert_ttl)
    touch(id)
  else
    accepted = accepted + 1
    local id = prev[3]
    redis.call('HSET', akey, 'status', status, 'starts', a.starts)
    redis.call('EXPIRE', akey, alert_ttl)
    if id then
      local ikey = P .. 'incident:' .. id
      redis.call('SREM', ikey .. ':firing', a.fp)
      redis.call('HSET', ikey, 'last_seen', now)
      timeline(id, a.source, 'alert.resolved', a.detail)
      if redis.call('HGET', ikey, 'state') ~= 'resolved' and redis.call('SCARD', ikey .. ':firing') == 0 then
        redis.call('HSET', ikey, 'state', 'resolved', 'resolved_at', now)
        local okey = P .. 'open:' .. redis.call('HGET', ikey, 'group')
        if redis.call('GET', okey) == id then
          redis.call('DEL', okey)
        end
        timeline(id, a.source, 'incident.resolved', 'every firing alert has resolved')
        enqueue('incident:' .. id .. ':resolved', 'resolve_incident', id)
      end
      touch(id)
    end
  end
end

return cjson.encode({accepted = accepted, duplicates = duplicates, incidents = touched})
