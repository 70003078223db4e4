-- wrk script for bench/verify.sh: presents the key from the environment, so the secret never
-- appears on a command line.
local secret = os.getenv("KEYSMITH_BENCH_SECRET")
if secret == nil or secret == "" then
  error("KEYSMITH_BENCH_SECRET is not set")
end
wrk.headers["X-API-SECRET"] = secret
