#!/usr/bin/env bash
# What a flood of unknown keys costs a cached key: its verification throughput with wrk on
# loopback, alone and while a second wrk sends well-formed secrets that no key has (a valid
# checksum each, as anyone can make them) at a bounded rate, and what the flood costs the
# database, counted by the server's store (keysmith_database_statements_total on /metrics).
# Rounds with a flood of secrets whose checksum is wrong, refused before any lookup, show what
# a flood costs that the database never sees.
#
#   bench/unknown-keys.sh [--pg]
#     --pg   PostgreSQL, in a fresh schema of $KEYSMITH_BENCH_PG_URL
#            (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable);
#            without it, SQLite in a temporary directory
#
# ROUNDS (default 6) rounds each measure the cached key alone, with the unknown flood and with
# the bad-checksum flood, in an order that turns from round to round, DURATION (3s) each, with
# THREADS (1) and CONNECTIONS (16) for the cached key. The flood runs FLOOD_CONNECTIONS (30)
# connections, each waiting FLOOD_DELAY_MS (8) before each request: at most 3,750 requests a
# second, about 3,100 on two cores once each answer's time is added. Besides the statements, it
# counts the floods' lookups of keys in the database (keysmith_key_cache_misses_total), which
# older binaries count too. KEYSMITH_BIN names a keysmith binary to measure instead of this tree's (an older
# commit's, say); without the statements metric its database figures read n/a.
set -euo pipefail
cd "$(dirname "$0")/.."

database=sqlite
case "${1:-}" in
  --pg) database=postgres ;;
  "") ;;
  *) echo "usage: bench/unknown-keys.sh [--pg]" >&2; exit 2 ;;
esac
rounds=${ROUNDS:-6}
duration=${DURATION:-3s}
threads=${THREADS:-1}
connections=${CONNECTIONS:-16}
flood_connections=${FLOOD_CONNECTIONS:-30}
flood_delay=${FLOOD_DELAY_MS:-8}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

source bench/lib.sh

if [ -n "${KEYSMITH_BIN:-}" ]; then
  cp "$KEYSMITH_BIN" "$work/keysmith"
else
  go build -o "$work/keysmith" .
fi
go build -o "$work/mkkey" ./bench/mkkey
bench_database

export KEYSMITH_ADDR="127.0.0.1:$(free_port)"
export KEYSMITH_METRICS_ADDR="127.0.0.1:$(free_port)"
base="http://$KEYSMITH_ADDR"

head -c 24 /dev/urandom | base64 | "$work/keysmith" users create --email bench@example.com --name Bench \
  --permission super-admin --password-stdin >/dev/null
KEYSMITH_BENCH_SECRET=$("$work/mkkey" -name "bench cached")
export KEYSMITH_BENCH_SECRET
(umask 077 && "$work/mkkey" -unknown -n 100000 >"$work/unknown")

"$work/keysmith" serve >"$work/stdout.log" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz" || { tail -n 20 "$work/server.log" >&2; echo "the server did not get ready" >&2; exit 1; }
# The index of secret hashes is built in the background at start: wait for it, when the binary
# has one.
for _ in $(seq 1 100); do
  complete=$(curl -fsS "http://$KEYSMITH_METRICS_ADDR/metrics" | awk '/^keysmith_key_index_complete / { print $2 }')
  [ "$complete" != 0 ] && break
  sleep 0.1
done

# statements: the store's count of SQL statements so far, or n/a; lookups: the key lookups
# that asked the database so far.
statements() {
  curl -fsS "http://$KEYSMITH_METRICS_ADDR/metrics" | awk '
    /^keysmith_database_statements_total / { printf "%d", $2; found = 1 }
    END { if (!found) print "n/a" }'
}
lookups() {
  curl -fsS "http://$KEYSMITH_METRICS_ADDR/metrics" | awk '/^keysmith_key_cache_misses_total / { printf "%d", $2 }'
}

# cached NAME: one measured wrk run of the cached key; prints its req/s.
cached() {
  wrk -t"$threads" -c"$connections" -d"$duration" -s bench/verify.lua "$base/api/v1/auth/verify" >"$work/$1.txt"
  if grep -q 'Non-2xx' "$work/$1.txt"; then cat "$work/$1.txt" >&2; echo "$1: the cached key was refused" >&2; exit 1; fi
  awk '/^Requests\/sec:/ { print $2 }' "$work/$1.txt"
}

# flooded NAME BAD: the cached key measured while a flood runs (BAD=1: wrong checksums);
# appends the flood's answered requests per second, and the statements sent meanwhile, to
# $work/NAME.flood.
flooded() {
  local name=$1 bad=$2 before after seconds looked_up
  seconds=$(( ${duration%s} + 2 ))
  before=$(statements)
  looked_up=$(lookups)
  KEYSMITH_BENCH_SECRETS_FILE="$work/unknown" KEYSMITH_BENCH_DELAY_MS=$flood_delay KEYSMITH_BENCH_BAD_CHECKSUM=$bad \
    wrk -t1 -c"$flood_connections" -d"${seconds}s" -s bench/flood.lua "$base/api/v1/auth/verify" >"$work/$name-flood.txt" &
  local flood_pid=$!
  sleep 1
  cached "$name" >/dev/null
  wait "$flood_pid"
  after=$(statements)
  looked_up=$(( $(lookups) - looked_up ))
  local total non2xx
  total=$(awk '/ requests in / { print $1 }' "$work/$name-flood.txt")
  non2xx=$(awk '/Non-2xx/ { print $5 }' "$work/$name-flood.txt")
  [ "$total" = "${non2xx:-0}" ] || { cat "$work/$name-flood.txt" >&2; echo "$name: some of the flood's keys were accepted" >&2; exit 1; }
  awk -v total="$total" -v s="$seconds" -v b="$before" -v a="$after" -v l="$looked_up" \
    'BEGIN { printf "%.0f %d %s %d\n", total / s, total, (b == "n/a" ? "n/a" : a - b), l }' >>"$work/$name.flood"
}

# The cached key's first use puts it in the cache; a warm-up of each kind.
cached warmup >/dev/null
rate() { awk '/^Requests\/sec:/ { print $2 }' "$work/$1.txt"; }
alone_runs=()
unknown_runs=()
bad_runs=()
orders=("alone unknown bad" "unknown bad alone" "bad alone unknown")
for round in $(seq 1 "$rounds"); do
  for run in ${orders[$((round % 3))]}; do
    case $run in
      alone)
        before=$(statements)
        cached alone >/dev/null
        after=$(statements)
        echo "${duration%s} $( [ "$before" = n/a ] && echo n/a || echo $((after - before)) )" >>"$work/alone.statements"
        ;;
      unknown) flooded unknown 0 ;;
      bad) flooded bad 1 ;;
    esac
  done
  alone_runs+=("$(rate alone)")
  unknown_runs+=("$(rate unknown)")
  bad_runs+=("$(rate bad)")
  echo "round $round: alone ${alone_runs[-1]} req/s, with unknown keys ${unknown_runs[-1]}, with bad checksums ${bad_runs[-1]}" \
    "(floods: $(tail -n 1 "$work/unknown.flood" | cut -d' ' -f1) and $(tail -n 1 "$work/bad.flood" | cut -d' ' -f1) req/s)"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.0f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }
alone=$(median "${alone_runs[@]}")
unknown=$(median "${unknown_runs[@]}")
bad=$(median "${bad_runs[@]}")
flood_summary() {
  awk '{ rate += $1; n++; total += $2; lookups += $4; if ($3 == "n/a") na = 1; else statements += $3 }
    END { printf "%.0f req/s on average, %d keys in all, %d looked up in the database, %s statements", rate / n, total, lookups, (na ? "n/a" : statements) }' "$work/$1.flood"
}
# background: statements a second while only the cached key was measured (heartbeats, polls).
background=$(awk '{ seconds += $1; if ($2 == "n/a") na = 1; else statements += $2 }
  END { if (na) print "n/a"; else printf "%.2f", statements / seconds }' "$work/alone.statements")
# per_key KIND: the flood's statements beyond the background's, per key sent.
per_key() {
  awk -v bg="$background" -v s="$(( ${duration%s} + 2 ))" '{ total += $2; n++; if ($3 == "n/a") na = 1; else statements += $3 }
    END { if (na || bg == "n/a") print "n/a"; else printf "%.4f (%d statements in all, %.0f of them the background'"'"'s)", (statements - bg * s * n) / total, statements, bg * s * n }' "$work/$1.flood"
}
echo "database:        $database"
echo "cached key:      alone $alone req/s (median of $rounds runs of $duration, $threads threads, $connections connections)"
echo "unknown keys:    $unknown req/s, ratio $(awk -v a="$alone" -v u="$unknown" 'BEGIN { printf "%.3f", u / a }') (target >= 0.85); flood $(flood_summary unknown)"
echo "                 database statements per unknown key: $(per_key unknown)"
echo "bad checksums:   $bad req/s, ratio $(awk -v a="$alone" -v b="$bad" 'BEGIN { printf "%.3f", b / a }'); flood $(flood_summary bad)"
echo "                 database statements per bad key: $(per_key bad)"
echo "background:      $background statements a second with no flood"
echo "server RSS:      $(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status") MB"
