-- A responder's (or a job's) state change, applied only if the state is still the one checked.
-- ARGV: id, expected state, target state, actor, detail, now (ms), timeline cap, job expiry (ms),
-- queue name, flapping window (ms). Returns "ok", or the state found instead.
local id, expected, target, actor, detail, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local cap, job_ttl, queue = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local P = 'plantao:'
local key = P .. 'incident:' .. id

local state = redis.call('HGET', key, 'state')
if state ~= expected then
  return state or 'missing'
end

local function timeline(event, text)
  redis.call('RPUSH', key .. ':timeline', cjson.encode({at = tonumber(now), actor = actor, event = event, detail = text}))
  redis.call('LTRIM', key .. ':timeline', -cap, -1)
end

redis.call('HSET', key, 'state', target)
if target == 'acknowledged' then
  redis.call('HSET', key, 'acknowledged_by', actor, 'acknowledged_at', now)
end
timeline('incident.' .. target, detail)
if target == 'resolved' then
  redis.call('HSET', key, 'resolved_at', now)
  local group = redis.call('HGET', key, 'group')
  if redis.call('GET', P .. 'open:' .. group) == id then
    redis.call('DEL', P .. 'open:' .. group)
  end
  redis.call('ZREM', P .. 'open-incidents', id)
  if redis.call('HGET', key, 'announced') == '1' then
    local n = redis.call('HGET', key, 'reopened')
    local job_id = 'incident:' .. id .. ':resolved:' .. n
    if redis.call('EXISTS', 'arq:job:' .. job_id, 'arq:result:' .. job_id) == 0 then
      local job = '{"t":null,"f":"resolve_incident","a":["' .. id .. '","' .. n .. '"],"k":{},"et":' .. now .. '}'
      redis.call('PSETEX', 'arq:job:' .. job_id, job_ttl, job)
      redis.call('ZADD', queue, now, job_id)
      timeline('job.enqueued', 'resolve_incident as ' .. job_id)
    end
  end
end
return 'ok'
