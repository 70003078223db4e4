-- wrk script for bench/verify.sh. Secrets come from the environment or a file it names, never
-- from a command line.
--
-- KEYSMITH_BENCH_SECRET: one key, presented as a fixed header (wrk builds the request once).
--
-- KEYSMITH_BENCH_SECRETS_FILE: a file of secrets, one a line. Each request presents the next
-- one, built with wrk.format, cycling through all of them; each thread starts at its own share
-- of the file (KEYSMITH_BENCH_THREADS threads in all), turned by an offset drawn per run, so
-- successive runs measure different keys. verify.sh drives /healthz with this script too, so
-- both endpoints pay the same Lua cost per request; /healthz ignores the header.
--
-- KEYSMITH_BENCH_WARMUP=1 (with a file) also counts answers and, when wrk ends, prints how many
-- keys the threads are sure to have presented:
--   warm-up: presented C of N keys (R requests, A answers)
-- A thread is sure of the first A - K keys of its share, where A is its answers and K its
-- connections (KEYSMITH_BENCH_CONNECTIONS / threads): each connection has at most one request
-- without an answer, and those may be any of the thread's requests. With one thread, whose
-- share is every key, C is exact; verify.sh warms up so.

local secrets_file = os.getenv("KEYSMITH_BENCH_SECRETS_FILE")
if secrets_file == nil or secrets_file == "" then
  local secret = os.getenv("KEYSMITH_BENCH_SECRET")
  if secret == nil or secret == "" then
    error("set KEYSMITH_BENCH_SECRET or KEYSMITH_BENCH_SECRETS_FILE")
  end
  wrk.headers["X-API-SECRET"] = secret
  return
end

local thread_count = tonumber(os.getenv("KEYSMITH_BENCH_THREADS") or "")
if thread_count == nil or thread_count < 1 then
  error("KEYSMITH_BENCH_THREADS must be wrk's thread count")
end
local warmup = os.getenv("KEYSMITH_BENCH_WARMUP") == "1"

-- Runs in wrk's main Lua state, once per thread before it starts. The offset is drawn there,
-- once for all threads; each thread's state runs this file too, but its draw goes unused.
local threads = {}
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local offset_of_this_run = math.random(0, 2 ^ 30)
function setup(thread)
  thread:set("thread_index", #threads)
  thread:set("run_offset", offset_of_this_run)
  table.insert(threads, thread)
end

-- Runs in each thread's own Lua state; the globals thread_index and run_offset were set by
-- setup.
local secrets, headers, next_secret
function init(args)
  secrets = {}
  for line in io.lines(secrets_file) do
    if line ~= "" then
      secrets[#secrets + 1] = line
    end
  end
  if #secrets == 0 then
    error("no secrets in " .. secrets_file)
  end
  -- Globals, so that done() can read them through thread:get.
  key_count = #secrets
  share_start = math.floor(thread_index * key_count / thread_count)
  share_size = math.floor((thread_index + 1) * key_count / thread_count) - share_start
  first_secret = (share_start + run_offset) % key_count
  next_secret = first_secret
  requests, answers = 0, 0
  headers = {}
end

function request()
  headers["X-API-SECRET"] = secrets[next_secret + 1]
  next_secret = (next_secret + 1) % key_count
  requests = requests + 1
  return wrk.format(nil, nil, headers)
end

if warmup then
  local connections = tonumber(os.getenv("KEYSMITH_BENCH_CONNECTIONS") or "")
  if connections == nil then
    error("KEYSMITH_BENCH_CONNECTIONS must be wrk's connection count")
  end
  local unanswered_at_most = math.floor(connections / thread_count)

  function response(status, headers, body)
    answers = answers + 1
  end

  -- Runs in the main state after every thread has stopped.
  function done(summary, latency, _)
    local presented, sent, answered, keys = 0, 0, 0, 0
    for _, thread in ipairs(threads) do
      local sure = math.max(0, thread:get("answers") - unanswered_at_most)
      presented = presented + math.min(thread:get("share_size"), sure)
      sent = sent + thread:get("requests")
      answered = answered + thread:get("answers")
      keys = thread:get("key_count")
    end
    io.write(string.format("warm-up: presented %d of %d keys (%d requests, %d answers)\n",
      presented, keys, sent, answered))
  end
end
