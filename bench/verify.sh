#!/usr/bin/env bash
# Key verification throughput against the same server's /healthz, measured with wrk on
# loopback in one run. Builds keysmith, starts it on a free port over a fresh database, creates
# a user and keys, runs wrk against both endpoints and prints req/s, their ratio and the
# server's memory.
#
#   bench/verify.sh [--pg] [--keys N]
#     --pg        PostgreSQL, in a fresh schema of $KEYSMITH_BENCH_PG_URL
#                 (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable);
#                 without it, SQLite in a temporary directory
#     --keys N    N distinct keys (default 1). With more than one, each request presents the
#                 next key, both endpoints are driven by the same script (bench/verify.lua,
#                 reading the secrets from a file in the work directory), and every key is
#                 presented once before the rounds, so the rounds measure keys in use.
#                 On PostgreSQL the script then waits for those uses to be written and
#                 vacuums api_keys, as autovacuum would, so that its run does not land in a round.
#
# Besides the req/s and their ratio it prints the server's CPU time per request of each
# endpoint (the median of the rounds, taken from /proc around each wrk run, so it includes
# whatever the server does in the background meanwhile, such as writing key uses), its resident
# memory now and at its peak, how many keys have a use written to the database, and the
# server's warnings, errors and answers other than 2xx.
#
# ROUNDS (default 10), DURATION (3s per endpoint and round), THREADS (2) and CONNECTIONS (32)
# tune wrk. Everything else in the environment reaches the server as it is, so it can tune the
# server: KEYSMITH_KEY_CACHE_SIZE=200000 bench/verify.sh --keys 100000. KEYSMITH_DATABASE_URL
# and KEYSMITH_ADDR are the script's own.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bench/verify.sh [--pg] [--keys N]"
database=sqlite
keys=1
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) database=postgres ;;
    --keys)
      [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
      keys=$2
      shift
      ;;
    --keys=*) keys=${1#--keys=} ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "--keys wants a whole number of at least 1, got '$keys'" >&2; exit 2; }
duration=${DURATION:-3s}
rounds=${ROUNDS:-10}
threads=${THREADS:-2}
connections=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

source bench/lib.sh

go build -o "$work/keysmith" .
go build -o "$work/mkkey" ./bench/mkkey
bench_database

export KEYSMITH_ADDR="127.0.0.1:$(free_port)"
base="http://$KEYSMITH_ADDR"

head -c 24 /dev/urandom | base64 | "$work/keysmith" users create --email bench@example.com --name Bench \
  --permission super-admin --password-stdin >/dev/null
# The secrets reach wrk through the environment (one key) or a file only this user can read
# (many), never a command line. With one key /healthz runs without a script, as it always has;
# with many both endpoints run the same script, so both pay its Lua per request.
if [ "$keys" = 1 ]; then
  KEYSMITH_BENCH_SECRET=$("$work/mkkey" -name "bench verify")
  export KEYSMITH_BENCH_SECRET
  first_secret=$KEYSMITH_BENCH_SECRET
  healthz_script=()
else
  created=$SECONDS
  (umask 077 && "$work/mkkey" -n "$keys" -name "bench verify" >"$work/secrets")
  echo "mkkey: $keys keys in $((SECONDS - created))s" >&2
  [ "$(wc -l <"$work/secrets")" = "$keys" ] || { echo "mkkey printed $(wc -l <"$work/secrets") secrets, want $keys" >&2; exit 1; }
  export KEYSMITH_BENCH_SECRETS_FILE="$work/secrets" KEYSMITH_BENCH_THREADS=$threads KEYSMITH_BENCH_CONNECTIONS=$connections
  first_secret=$(head -n 1 "$work/secrets")
  healthz_script=(-s bench/verify.lua)
fi
verify_script=(-s bench/verify.lua)

# The access log goes to a file, as it would in production; both endpoints pay for it.
"$work/keysmith" serve >"$work/stdout.log" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz" || { tail -n 20 "$work/server.log" >&2; echo "the server did not get ready" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H @- "$base/api/v1/auth/verify" <<<"X-API-SECRET: $first_secret")
[ "$status" = 200 ] || { echo "verify answered $status, want 200" >&2; exit 1; }

clock_ticks=$(getconf CLK_TCK)
# server_cpu: the server's CPU time so far, user and system, in clock ticks.
server_cpu() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }

# server_trouble: the server's warnings and errors, counted by message with the first line of
# each kind cut short, and its answers other than 2xx by path and status, from the access log.
# The log is text or JSON (KEYSMITH_LOG_FORMAT).
server_trouble() {
  { grep -E 'level=(ERROR|WARN)|"level":"(ERROR|WARN)"' "$work/server.log" || true; } >"$work/trouble.log"
  echo "server log:  $(grep -cE 'level=ERROR|"level":"ERROR"' "$work/trouble.log" || true) errors, $(grep -cE 'level=WARN|"level":"WARN"' "$work/trouble.log" || true) warnings"
  awk '
    { msg = $0; sub(/.*( msg=|"msg":)/, "", msg); sub(/( [a-z_]+=|,").*/, "", msg) }
    !(msg in count) { first[msg] = substr($0, 1, 300); order[++kinds] = msg }
    { count[msg]++ }
    END { for (i = 1; i <= kinds; i++) printf "  %d × %s\n    %s\n", count[order[i]], order[i], first[order[i]] }' "$work/trouble.log"
  awk '
    match($0, /(status=|"status":)[0-9]+/) {
      status = substr($0, RSTART, RLENGTH); sub(/[^0-9]+/, "", status)
      if (status !~ /^2/ && match($0, /(path=|"path":")[^ ",]+/)) {
        path = substr($0, RSTART, RLENGTH); sub(/^(path=|"path":")/, "", path)
        count[path " " status]++
      }
    }
    END {
      for (k in count) printf "  %d answers %s%s\n", count[k], k, k ~ / 499$/ ? " (wrk closed the connection first)" : ""
    }' "$work/server.log"
}

# run_wrk NAME PATH [wrk args...]: one wrk run into $work/NAME.txt; fails on any non-2xx.
run_wrk() {
  local name=$1 path=$2
  shift 2
  wrk "$@" "$base$path" >"$work/$name.txt"
  if grep -q 'Non-2xx' "$work/$name.txt"; then
    cat "$work/$name.txt" >&2
    server_trouble >&2
    echo "$name: some responses were not 2xx" >&2
    exit 1
  fi
}

# measure NAME PATH [wrk args...]: one measured run; prints its req/s and appends the server's
# CPU time per request, in µs, to $work/NAME.cpu.
measure() {
  local name=$1 path=$2 before
  shift 2
  before=$(server_cpu)
  run_wrk "$name" "$path" -t"$threads" -c"$connections" -d"$duration" "$@"
  awk -v ticks="$(($(server_cpu) - before))" -v hz="$clock_ticks" \
    '/ requests in / { printf "%.1f\n", ticks / hz * 1e6 / $1 }' "$work/$name.txt" >>"$work/$name.cpu"
  awk '/^Requests\/sec:/ { print $2 }' "$work/$name.txt"
}

# Warm up both paths, then measure in rounds of one wrk run per endpoint. Rounds alternate
# which endpoint goes first (healthz then verify, then verify then healthz, ...), so that a
# steady drift in the machine's speed favours neither. Each round's ratio compares two runs
# made seconds apart; the figure is the median of the rounds' ratios, as benchstat reports
# medians, so that one round disturbed by the rest of the machine does not decide it. The
# ratio of the means over all rounds is printed beside it.
run_wrk warmup-healthz /healthz -t"$threads" -c"$connections" -d2s "${healthz_script[@]}"
run_wrk warmup-verify /api/v1/auth/verify -t"$threads" -c"$connections" -d2s "${verify_script[@]}"
if [ "$keys" -gt 1 ]; then
  # Present every key once, so that the rounds measure keys in use. One wrk thread goes
  # through the keys in order, so that the keys it surely presented (its answers less one per
  # connection, which may have been left unanswered) are the first ones, however unevenly
  # several threads would have shared the machine. The run is long enough for half again as
  # many requests as keys at the pace of the 2-second warm-up, which met mostly keys not yet
  # cached; a run too short is repeated twice as long.
  pace=$(awk '/^Requests\/sec:/ { print $2 }' "$work/warmup-verify.txt")
  seconds=$(awk -v keys="$keys" -v pace="$pace" 'BEGIN { print int(1.5 * keys / pace) + 2 }')
  presented=0
  for _ in 1 2 3; do
    warmed=$SECONDS
    KEYSMITH_BENCH_WARMUP=1 KEYSMITH_BENCH_THREADS=1 \
      run_wrk warmup-keys /api/v1/auth/verify -t1 -c"$connections" -d"${seconds}s" "${verify_script[@]}"
    presented=$(awk '/^warm-up: presented/ { print $3 }' "$work/warmup-keys.txt")
    echo "warm-up: $(grep '^warm-up: presented' "$work/warmup-keys.txt" | cut -d' ' -f2-) in $((SECONDS - warmed))s" >&2
    [ "$presented" = "$keys" ] && break
    seconds=$((seconds * 2))
  done
  [ "$presented" = "$keys" ] || { echo "warm-up presented $presented of $keys keys" >&2; exit 1; }
  if [ "$database" = postgres ]; then
    # The warm-up's uses are written within a few seconds, updating every key's row. Wait for
    # them and vacuum, as autovacuum soon would: on two cores its run would otherwise land in
    # the middle of the rounds and decide one of them.
    for _ in $(seq 1 30); do
      [ "$(psql -qtA "$pg_url" -c "SELECT count(*) FROM $schema.api_keys WHERE last_used_at IS NOT NULL")" = "$keys" ] && break
      sleep 0.5
    done
    psql -q "$pg_url" -c "VACUUM ANALYZE $schema.api_keys" >/dev/null
  fi
fi
healthz_runs=()
verify_runs=()
round_ratios=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    healthz_runs+=("$(measure healthz /healthz "${healthz_script[@]}")")
    verify_runs+=("$(measure verify /api/v1/auth/verify "${verify_script[@]}")")
  else
    verify_runs+=("$(measure verify /api/v1/auth/verify "${verify_script[@]}")")
    healthz_runs+=("$(measure healthz /healthz "${healthz_script[@]}")")
  fi
  round_ratios+=("$(awk -v h="${healthz_runs[-1]}" -v v="${verify_runs[-1]}" 'BEGIN { printf "%.3f", v / h }')")
  echo "round $round: healthz ${healthz_runs[-1]} req/s, auth/verify ${verify_runs[-1]} req/s, ratio ${round_ratios[-1]}"
done
mean() { printf '%s\n' "$@" | awk '{ sum += $1 } END { printf "%.0f", sum / NR }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
healthz=$(mean "${healthz_runs[@]}")
verify=$(mean "${verify_runs[@]}")
spread=$(printf '%s\n' "${round_ratios[@]}" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')
# The targets: 0.9 up to 10,000 keys, 0.85 beyond.
target=0.9
[ "$keys" -le 10000 ] || target=0.85
mapfile -t healthz_cpu <"$work/healthz.cpu"
mapfile -t verify_cpu <"$work/verify.cpu"
# The server's resident memory now and at its peak (VmHWM), in MB of 2^20 bytes.
rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
rss_peak=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status")
# Keys whose use the server has written to the database: all of them, unless the usage flusher
# fell behind or failed.
if [ "$database" = postgres ]; then
  used=$(psql -qtA "$pg_url" -c "SELECT count(*) FROM $schema.api_keys WHERE last_used_at IS NOT NULL" 2>/dev/null || echo "?")
elif command -v sqlite3 >/dev/null; then
  used=$(sqlite3 "$work/keysmith.db" "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL" 2>/dev/null || echo "?")
else
  used="? (no sqlite3)"
fi

echo "database:    $database"
echo "keys:        $keys"
echo "wrk:         $threads threads, $connections connections, $rounds rounds of $duration per endpoint, $(nproc) cores"
echo "healthz:     $healthz req/s (mean of the rounds), server CPU $(median "${healthz_cpu[@]}" | awk '{ printf "%.1f", $1 }') µs per request (median)"
echo "auth/verify: $verify req/s (mean of the rounds), server CPU $(median "${verify_cpu[@]}" | awk '{ printf "%.1f", $1 }') µs per request (median)"
awk -v h="$healthz" -v v="$verify" -v m="$(median "${round_ratios[@]}")" -v spread="$spread" -v target="$target" \
  'BEGIN { printf "ratio:       %s (target >= %s): median of the rounds (%s); ratio of the means %.3f\n", m, target, spread, v / h }'
echo "server RSS:  $rss MB now, $rss_peak MB at most (VmRSS, VmHWM; target < 135 MB after 100,000 keys in use, issue 18)"
echo "keys used:   $used of $keys with a use written to the database"
server_trouble
