-- wrk script: POST distinct Alertmanager deliveries (bench/ingest.py writes the template).
-- Usage: wrk ... -s bench/wrk/alertmanager.lua URL -- TEMPLATE_FILE NONCE TOKEN
-- The template holds @@P@@ where each delivery puts its own 14-hex-digit prefix
-- (nonce, thread, counter): new fingerprints, a new service, hence a new incident each time.
-- done() prints one JSON line that bench/ingest.py reads.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local parts, head, headers
local counter = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local template = f:read("*a")
  f:close()
  parts = {}
  local pos = 1
  while true do
    local s, e = string.find(template, "@@P@@", pos, true)
    if not s then
      table.insert(parts, string.sub(template, pos))
      break
    end
    table.insert(parts, string.sub(template, pos, s - 1))
    pos = e + 1
  end
  head = string.format("%04x%02x", tonumber(args[2]), tid)
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. args[3],
  }
end

function request()
  local prefix = head .. string.format("%08x", counter)
  counter = counter + 1
  return wrk.format("POST", nil, headers, table.concat(parts, prefix))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"duration_us":%d,"requests":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
