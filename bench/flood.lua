-- wrk script for bench/unknown-keys.sh: a flood of keys at a bounded rate. Each request presents
-- the next secret of KEYSMITH_BENCH_SECRETS_FILE (one a line), cycling through them, each thread
-- from its own share. KEYSMITH_BENCH_DELAY_MS is how long each connection waits before each
-- request, so that C connections send at most C × 1000 / delay requests a second. With
-- KEYSMITH_BENCH_BAD_CHECKSUM=1 each secret is sent with its last character changed, which
-- breaks its checksum: the keys every instance refuses before any lookup, for comparison.

local secrets_file = os.getenv("KEYSMITH_BENCH_SECRETS_FILE")
if secrets_file == nil or secrets_file == "" then
  error("set KEYSMITH_BENCH_SECRETS_FILE")
end
local delay_ms = tonumber(os.getenv("KEYSMITH_BENCH_DELAY_MS") or "")
if delay_ms == nil or delay_ms < 0 then
  error("KEYSMITH_BENCH_DELAY_MS must be a number of milliseconds")
end
local bad_checksum = os.getenv("KEYSMITH_BENCH_BAD_CHECKSUM") == "1"

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local secrets, headers, next_secret
function init(args)
  secrets = {}
  for line in io.lines(secrets_file) do
    if line ~= "" then
      if bad_checksum then
        local last = line:sub(-1)
        line = line:sub(1, -2) .. (last == "0" and "1" or "0")
      end
      secrets[#secrets + 1] = line
    end
  end
  if #secrets == 0 then
    error("no secrets in " .. secrets_file)
  end
  next_secret = (thread_index * 7919) % #secrets
  headers = {}
end

function delay()
  return delay_ms
end

function request()
  headers["X-API-SECRET"] = secrets[next_secret + 1]
  next_secret = (next_secret + 1) % #secrets
  return wrk.format(nil, nil, headers)
end
