#!/usr/bin/env bash
# Key verification throughput against the same server's /healthz, measured with wrk on
# loopback in one run. Builds keysmith, starts it on a free port over a fresh database, creates
# a user and a key, runs wrk against both endpoints and prints req/s and their ratio.
#
#   bench/verify.sh          SQLite in a temporary directory
#   bench/verify.sh --pg     PostgreSQL, in a fresh schema of $KEYSMITH_BENCH_PG_URL
#                            (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#
# ROUNDS (default 10), DURATION (3s per endpoint and round), THREADS (2) and CONNECTIONS (32)
# tune wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

database=sqlite
case "${1:-}" in
  --pg) database=postgres ;;
  "") ;;
  *) echo "usage: bench/verify.sh [--pg]" >&2; exit 2 ;;
esac
duration=${DURATION:-3s}
rounds=${ROUNDS:-10}
threads=${THREADS:-2}
connections=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

work=$(mktemp -d)
server_pid=""
schema=""
pg_url=${KEYSMITH_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$pg_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/keysmith" .
go build -o "$work/mkkey" ./bench/mkkey

if [ "$database" = postgres ]; then
  schema="keysmith_bench_$$"
  psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
  case "$pg_url" in *\?*) sep='&' ;; *) sep='?' ;; esac
  export KEYSMITH_DATABASE_URL="$pg_url${sep}search_path=$schema"
else
  export KEYSMITH_DATABASE_URL="$work/keysmith.db"
fi

# A free loopback port: one nothing answers on.
for _ in $(seq 1 50); do
  port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
export KEYSMITH_ADDR="127.0.0.1:$port"
base="http://$KEYSMITH_ADDR"

head -c 24 /dev/urandom | base64 | "$work/keysmith" users create --email bench@example.com --name Bench \
  --permission super-admin --password-stdin >/dev/null
KEYSMITH_BENCH_SECRET=$("$work/mkkey" -name "bench verify")
export KEYSMITH_BENCH_SECRET

# The access log goes to a file, as it would in production; both endpoints pay for it.
"$work/keysmith" serve >"$work/stdout.log" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz"
status=$(curl -s -o /dev/null -w '%{http_code}' -H @- "$base/api/v1/auth/verify" <<<"X-API-SECRET: $KEYSMITH_BENCH_SECRET")
[ "$status" = 200 ] || { echo "verify answered $status, want 200" >&2; exit 1; }

# measure NAME PATH [wrk args...]: one wrk run; prints its req/s and fails on any non-2xx.
measure() {
  local name=$1 path=$2
  shift 2
  wrk -t"$threads" -c"$connections" -d"$duration" "$@" "$base$path" >"$work/$name.txt"
  if grep -q 'Non-2xx' "$work/$name.txt"; then
    cat "$work/$name.txt" >&2
    echo "$name: some responses were not 2xx" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ { print $2 }' "$work/$name.txt"
}

# Warm up both paths, then measure in rounds of one wrk run per endpoint. Rounds alternate
# which endpoint goes first (healthz then verify, then verify then healthz, ...), so that a
# steady drift in the machine's speed favours neither. Each round's ratio compares two runs
# made seconds apart; the figure is the median of the rounds' ratios, as benchstat reports
# medians, so that one round disturbed by the rest of the machine does not decide it. The
# ratio of the means over all rounds is printed beside it.
wrk -t"$threads" -c"$connections" -d2s "$base/healthz" >/dev/null
wrk -t"$threads" -c"$connections" -d2s -s bench/verify.lua "$base/api/v1/auth/verify" >/dev/null
healthz_runs=()
verify_runs=()
round_ratios=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then
    healthz_runs+=("$(measure healthz /healthz)")
    verify_runs+=("$(measure verify /api/v1/auth/verify -s bench/verify.lua)")
  else
    verify_runs+=("$(measure verify /api/v1/auth/verify -s bench/verify.lua)")
    healthz_runs+=("$(measure healthz /healthz)")
  fi
  round_ratios+=("$(awk -v h="${healthz_runs[-1]}" -v v="${verify_runs[-1]}" 'BEGIN { printf "%.3f", v / h }')")
  echo "round $round: healthz ${healthz_runs[-1]} req/s, auth/verify ${verify_runs[-1]} req/s, ratio ${round_ratios[-1]}"
done
mean() { printf '%s\n' "$@" | awk '{ sum += $1 } END { printf "%.0f", sum / NR }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.3f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
healthz=$(mean "${healthz_runs[@]}")
verify=$(mean "${verify_runs[@]}")
spread=$(printf '%s\n' "${round_ratios[@]}" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')

echo "database:    $database"
echo "wrk:         $threads threads, $connections connections, $rounds rounds of $duration per endpoint, $(nproc) cores"
echo "healthz:     $healthz req/s (mean of the rounds)"
echo "auth/verify: $verify req/s (mean of the rounds)"
awk -v h="$healthz" -v v="$verify" -v m="$(median "${round_ratios[@]}")" -v spread="$spread" \
  'BEGIN { printf "ratio:       %s (target >= 0.9): median of the rounds (%s); ratio of the means %.3f\n", m, spread, v / h }'
