-- wrk script for bench/outage.sh: presents the key in KEYSMITH_BENCH_SECRET (from the
-- environment, never a command line) and counts the answers. When wrk ends it prints, on lines
-- starting "outage:", the answers by kind with the first and last second each was seen in,
-- wrk's errors, its latency and the seconds in which no answer came at all.
--
-- Kinds: the status, then "stale" when X-Keysmith-Stale: true came with it, and notes on what
-- is amiss: "stale in the body only" (the JSON says "stale": true, the header does not) and
-- "without Retry-After" for a 503.
--
-- KEYSMITH_BENCH_T0: the Unix second the phase started in; seconds are counted from it, so
-- that they line up with the fault the script injects. KEYSMITH_BENCH_FROM: the second, counted
-- so, this run started in (default 0).

local secret = os.getenv("KEYSMITH_BENCH_SECRET")
if secret == nil or secret == "" then
  error("set KEYSMITH_BENCH_SECRET")
end
wrk.headers["X-API-SECRET"] = secret
local t0 = tonumber(os.getenv("KEYSMITH_BENCH_T0") or "")
if t0 == nil then
  error("set KEYSMITH_BENCH_T0 to the Unix second the phase started in")
end
local from = tonumber(os.getenv("KEYSMITH_BENCH_FROM") or "0") or 0

-- Runs in wrk's main Lua state, once per thread before it starts.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Runs in each thread's own state. Globals, so that done() can read them through thread:get:
-- counts[kind], first[kind] and last[kind] (seconds since t0), bySecond["kind|second"] and
-- answered[second]. Flat tables: wrk crashes copying nested ones out of a thread.
function init(args)
  counts, first, last, bySecond, answered = {}, {}, {}, {}, {}
end

-- header returns the value of a response header whatever the case of its name.
local function header(headers, name)
  local value = headers[name]
  if value ~= nil then
    return value
  end
  local lower = string.lower(name)
  for key, v in pairs(headers) do
    if string.lower(key) == lower then
      return v
    end
  end
  return nil
end

function response(status, headers, body)
  local kind = tostring(status)
  local staleHeader = header(headers, "X-Keysmith-Stale") == "true"
  local staleBody = body ~= nil and string.find(body, '"stale":true', 1, true) ~= nil
  if staleHeader then
    kind = kind .. " stale"
    if not staleBody then
      kind = kind .. " in the header only"
    end
  elseif staleBody then
    kind = kind .. " stale in the body only"
  end
  if status == 503 and header(headers, "Retry-After") == nil then
    kind = kind .. " without Retry-After"
  end
  local second = os.time() - t0
  counts[kind] = (counts[kind] or 0) + 1
  if first[kind] == nil or second < first[kind] then
    first[kind] = second
  end
  if last[kind] == nil or second > last[kind] then
    last[kind] = second
  end
  local cell = kind .. "|" .. second
  bySecond[cell] = (bySecond[cell] or 0) + 1
  answered[second] = (answered[second] or 0) + 1
end

-- Runs in the main state after every thread has stopped.
function done(summary, latency, requests)
  local counts, first, last, bySecond, answered, kinds = {}, {}, {}, {}, {}, {}
  for _, thread in ipairs(threads) do
    local threadFirst, threadLast = thread:get("first"), thread:get("last")
    for kind, n in pairs(thread:get("counts")) do
      if counts[kind] == nil then
        table.insert(kinds, kind)
        counts[kind], first[kind], last[kind], bySecond[kind] = 0, math.huge, -math.huge, {}
      end
      counts[kind] = counts[kind] + n
      first[kind] = math.min(first[kind], threadFirst[kind])
      last[kind] = math.max(last[kind], threadLast[kind])
    end
    for cell, n in pairs(thread:get("bySecond")) do
      local kind, second = string.match(cell, "^(.*)|(-?%d+)$")
      second = tonumber(second)
      bySecond[kind][second] = (bySecond[kind][second] or 0) + n
    end
    for second, n in pairs(thread:get("answered")) do
      answered[second] = (answered[second] or 0) + n
    end
  end
  table.sort(kinds)
  for _, kind in ipairs(kinds) do
    io.write(string.format("outage: answers %s %d s%d-%d\n", kind, counts[kind], first[kind], last[kind]))
  end
  -- Per kind, the answers in each second: "outage: seconds KIND | s:n s:n ...".
  for _, kind in ipairs(kinds) do
    local seconds = {}
    for second in pairs(bySecond[kind]) do
      table.insert(seconds, second)
    end
    table.sort(seconds)
    local cells = {}
    for _, second in ipairs(seconds) do
      table.insert(cells, string.format("%d:%d", second, bySecond[kind][second]))
    end
    io.write(string.format("outage: seconds %s | %s\n", kind, table.concat(cells, " ")))
  end
  local errors = summary.errors
  io.write(string.format("outage: errors connect %d read %d write %d timeout %d\n",
    errors.connect, errors.read, errors.write, errors.timeout))
  io.write(string.format("outage: latency max %.1f ms p99 %.1f ms mean %.1f ms\n",
    latency.max / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
  -- Seconds of the run, whole ones only, in which no answer came.
  local silent = {}
  local seconds = math.floor(summary.duration / 1e6)
  for second = from, from + seconds - 1 do
    if answered[second] == nil then
      table.insert(silent, tostring(second))
    end
  end
  io.write(string.format("outage: silent %s\n", #silent == 0 and "none" or table.concat(silent, ",")))
end
