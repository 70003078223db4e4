#!/usr/bin/env bash
# Key verification while the database is away, under wrk on loopback: what /api/v1/auth/verify
# answers during a 20-second outage (PostgreSQL refusing connections) and a 20-second hang
# (PostgreSQL, or the network, answering nothing), how long the server takes to recover, and
# how much it logs meanwhile.
#
#   bench/outage.sh
#
# Builds keysmith, bench/mkkey and bench/dbproxy into a temporary directory, makes a fresh
# schema in $KEYSMITH_BENCH_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, on loopback), migrates it and
# makes a user and five keys there directly. Then it starts dbproxy (the store tests' fault
# proxy) in front of PostgreSQL and keysmith on a free loopback port with its database URL
# going through the proxy and KEYSMITH_LOG_FORMAT=json, its log to a file, and verifies the
# first key once, so that it is cached.
#
# Then, for each fault, refuse and then hang:
#   - wrk presents the cached key for $BEFORE + $FAULT + $AFTER seconds (5 + 20 + 5);
#   - from second $BEFORE the proxy injects the fault, for $FAULT seconds;
#   - meanwhile a second wrk (1 thread, 4 connections) presents a key never verified before,
#     which the server cannot vouch for, from two seconds into the fault (so that the onset
#     shows the cached key alone) to a second before its end: it should get 503 with
#     Retry-After within the lookup deadline (KEYSMITH_VERIFY_DB_TIMEOUT, 500ms);
#   - at the fault's midpoint curl presents once a key verified just before the fault, whose
#     use must reach the database after it;
#   - when the proxy forwards again, curl presents the never-verified key every 100 ms until
#     it gets 200: the time to recover.
# After each phase it prints the answers by kind (status, stale or not) with their count in
# each second, wrk's latency and errors, the seconds in which no answer came, the server's log
# lines of the phase by level (the warnings and errors by message, with the first line of
# each), the log's bytes, the access log's statuses with the longest time the server took, the
# server's metrics second by second around the fault's onset and end (from
# KEYSMITH_METRICS_ADDR, a free loopback port), and whether key uses were written once the
# database was back. Then come checks against what docs/operations.md's "When the database is away"
# promises with the defaults: no 500; the cached key answered 200 throughout, in every second;
# the never-verified key 503 with Retry-After; both within twice the lookup deadline; at most
# 200 warning and error lines; uses written. The script exits 1 if one fails.
#
# BEFORE, FAULT and AFTER (seconds, 5, 20 and 5), THREADS (2) and CONNECTIONS (32) tune the
# run. LOG_DIR=DIR keeps there the server's log (server.log, and refuse.log and hang.log, its
# lines of each phase), dbproxy's and wrk's output and the metrics sampled. Everything else in
# the environment reaches the server as it is, so it can tune the server
# (KEYSMITH_STALE_KEYS_FOR=0 bench/outage.sh), though the checks assume the defaults.
# KEYSMITH_DATABASE_URL, KEYSMITH_ADDR, KEYSMITH_METRICS_ADDR and KEYSMITH_LOG_FORMAT are the
# script's own. Secrets reach wrk through its environment and curl through its standard input,
# never a command line. It takes about a minute and a half.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 0 ] || { echo "usage: bench/outage.sh (tuned by BEFORE, FAULT, AFTER, THREADS, CONNECTIONS, LOG_DIR)" >&2; exit 2; }
before=${BEFORE:-5}
fault_for=${FAULT:-20}
after=${AFTER:-5}
threads=${THREADS:-2}
connections=${CONNECTIONS:-32}
for n in "$before" "$fault_for" "$after" "$threads" "$connections"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "BEFORE, FAULT, AFTER, THREADS and CONNECTIONS want whole numbers of at least 1, got '$n'" >&2; exit 2; }
done
[ "$fault_for" -ge 5 ] || { echo "FAULT wants at least 5 seconds, got $fault_for" >&2; exit 2; }
total=$((before + fault_for + after))
for tool in wrk psql curl go; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
# The lookup deadline: the checks hold both keys' answers to twice it, for a busy machine.
verify_deadline_ms=500
case "${KEYSMITH_VERIFY_DB_TIMEOUT:-}" in
  "") ;;
  *ms) verify_deadline_ms=${KEYSMITH_VERIFY_DB_TIMEOUT%ms} ;;
  *s) verify_deadline_ms=$(awk -v s="${KEYSMITH_VERIFY_DB_TIMEOUT%s}" 'BEGIN { print s * 1000 }') ;;
esac

work=$(mktemp -d)
server_pid=""
proxy_pid=""
schema=""
background=()
pg_url=${KEYSMITH_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cleanup() {
  for pid in "${background[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$pg_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; fi
  if [ -n "${LOG_DIR:-}" ]; then
    # The logs and wrk's output, never the secrets.
    mkdir -p "$LOG_DIR" && cp "$work"/*.log "$work"/*-cached.txt "$work"/*-uncached.txt "$work"/*-metrics.txt "$LOG_DIR"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/keysmith" .
go build -o "$work/mkkey" ./bench/mkkey
go build -o "$work/dbproxy" ./bench/dbproxy

# The URL's parts, to put the proxy in place of PostgreSQL's host:port.
scheme=${pg_url%%://*}
rest=${pg_url#*://}
authority=${rest%%[/?]*}
path_and_query=${rest:${#authority}}
case "$authority" in
  *@*) userinfo=${authority%@*}@ pg_hostport=${authority##*@} ;;
  *) userinfo="" pg_hostport=$authority ;;
esac
[ -n "$pg_hostport" ] || { echo "KEYSMITH_BENCH_PG_URL has no host, so no proxy can stand in front of it: $pg_url" >&2; exit 1; }
[[ "$pg_hostport" =~ :[0-9]+$ ]] || pg_hostport="$pg_hostport:5432"
case "$path_and_query" in *\?*) sep='&' ;; *) sep='?' ;; esac

schema="keysmith_outage_$$"
psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
direct_url="$pg_url${sep}search_path=$schema"

# Migrations, a user and the keys go straight to PostgreSQL, not through the proxy. Key 1 is
# presented by wrk throughout; per fault, one key is never verified before it (2 and 4) and one
# is verified just before it and presented once in its middle (3 and 5).
KEYSMITH_DATABASE_URL=$direct_url "$work/keysmith" migrate >/dev/null
head -c 24 /dev/urandom | base64 | KEYSMITH_DATABASE_URL=$direct_url "$work/keysmith" users create \
  --email outage@example.com --name Outage --permission super-admin --password-stdin >/dev/null
(umask 077 && KEYSMITH_DATABASE_URL=$direct_url "$work/mkkey" -n 5 -name outage >"$work/secrets")
mapfile -t secrets <"$work/secrets"
[ "${#secrets[@]}" = 5 ] || { echo "mkkey printed ${#secrets[@]} secrets, want 5" >&2; exit 1; }
cached_secret=${secrets[0]}

# dbproxy prints its address, then takes one command a line and answers each "ok COMMAND".
coproc DBPROXY { exec "$work/dbproxy" -target "$pg_hostport" 2>>"$work/dbproxy.log"; }
proxy_pid=$DBPROXY_PID
proxy_in=${DBPROXY[1]}
proxy_out=${DBPROXY[0]}
read -r -t 10 proxy_addr <&"$proxy_out" || { cat "$work/dbproxy.log" >&2; echo "dbproxy did not start" >&2; exit 1; }
# inject FAULT: tells dbproxy and waits for it to be in effect.
inject() {
  local answer
  echo "$1" >&"$proxy_in"
  read -r -t 10 answer <&"$proxy_out" || answer="(no answer)"
  [ "$answer" = "ok $1" ] || { cat "$work/dbproxy.log" >&2; echo "dbproxy $1: got $answer, want ok $1" >&2; exit 1; }
}

# free_port: a loopback port nothing answers on.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  echo "$port"
}
port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$port" ]; do metrics_port=$(free_port); done
base="http://127.0.0.1:$port"
KEYSMITH_ADDR="127.0.0.1:$port" KEYSMITH_METRICS_ADDR="127.0.0.1:$metrics_port" KEYSMITH_LOG_FORMAT=json \
  KEYSMITH_DATABASE_URL="$scheme://$userinfo$proxy_addr$path_and_query${sep}search_path=$schema" \
  "$work/keysmith" serve >"$work/stdout.log" 2>"$work/server.log" &
server_pid=$!

# wait_ready SECONDS: waits for /readyz to answer 200.
wait_ready() {
  local deadline=$((SECONDS + $1))
  until curl -fsS -o /dev/null --max-time 1 "$base/readyz" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$work/server.log" >&2; echo "the server was not ready within $1 s" >&2; exit 1; }
    sleep 0.1
  done
}

# present SECRET [USER_AGENT]: one verification with curl, the secret on its standard input;
# prints the status, the seconds it took, X-Keysmith-Stale ("-" when absent) and the Unix time
# it ended.
present() {
  local status took stale
  read -r status took stale < <(curl -s -o /dev/null --max-time 5 -A "${2:-keysmith-outage-bench}" \
    -w '%{http_code} %{time_total} -%header{x-keysmith-stale}\n' \
    -H @- "$base/api/v1/auth/verify" <<<"X-API-SECRET: $1" || true) || true
  stale=${stale#-}
  echo "${status:-000} ${took:-0} ${stale:--} $EPOCHREALTIME"
}

# sleep_until UNIXTIME [OFFSET]: sleeps until UNIXTIME + OFFSET seconds (fractions allowed).
sleep_until() {
  sleep "$(awk -v until="$1" -v offset="${2:-0}" -v now="$EPOCHREALTIME" 'BEGIN { d = until + offset - now; printf "%.3f", (d > 0 ? d : 0) }')"
}

# sample_metrics T0 SECONDS FILE: at each whole second from T0 to T0 + SECONDS, one line of
# the server's counters: the second, when the sample was taken (seconds since T0, as a busy
# machine may be late), verifications ok, cache hits, stale, unavailable, the listener (1 up),
# the pool's open connections and the pool's waits in all; "-" if the metrics did not answer.
sample_metrics() {
  local t0=$1 seconds=$2 file=$3 k metrics
  for ((k = 0; k <= seconds; k++)); do
    sleep_until "$t0" "$k"
    metrics=$(curl -s --max-time 0.5 "http://127.0.0.1:$metrics_port/metrics" || true)
    awk -v k="$k" -v at="$(awk -v now="$EPOCHREALTIME" -v t0="$t0" 'BEGIN { printf "%.2f", now - t0 }')" '
      /^keysmith_key_verifications_total\{result="ok"\}/ { ok = $2 }
      /^keysmith_key_verifications_total\{result="stale"\}/ { stale = $2 }
      /^keysmith_key_verifications_total\{result="unavailable"\}/ { unavailable = $2 }
      /^keysmith_key_cache_hits_total / { hits = $2 }
      /^keysmith_revocation_listener_up / { up = $2 }
      /^go_sql_open_connections/ { open = $2 }
      /^go_sql_wait_count_total/ { waits = $2 }
      END { if (ok == "") print k, "-"; else print k, at, ok, hits, stale, unavailable, up, open, waits }' <<<"$metrics" >>"$file"
  done
}

# rel UNIXSECOND T0: the second as counted from T0 ("s12"), or "never".
rel() { if [ "$1" = never ]; then echo never; else echo "s$(($1 - $2))"; fi; }

# last_use KEYNAME: the key's last use in the database, in Unix seconds, or "never"; asked
# directly, not through the proxy.
last_use() {
  local at
  at=$(psql -qtA "$pg_url" -c "SELECT coalesce(extract(epoch FROM last_used_at)::bigint::text, 'never') FROM $schema.api_keys WHERE name = '$1'")
  echo "${at:-never}"
}

wait_ready 15
read -r status _ <<<"$(present "$cached_secret")"
[ "$status" = 200 ] || { echo "verifying the first key answered $status, want 200" >&2; exit 1; }

failures=()

# phase FAULT UNCACHED_INDEX OUTAGE_USE_INDEX: one run under wrk with the fault from second
# $before for $fault_for seconds; prints the report.
phase() {
  local fault=$1 uncached_secret=${secrets[$2]} outage_secret=${secrets[$3]} outage_key="outage $(($3 + 1))"
  local log_start t0 cached_wrk uncached_wrk sampler status took stale ended back_at recovered_at polls=0
  local outage_use outage_use_at use_at_fault_end use_after written_after
  wait_ready 15
  read -r status _ <<<"$(present "$outage_secret")"
  [ "$status" = 200 ] || { echo "$fault: verifying $outage_key before the fault answered $status, want 200" >&2; exit 1; }
  log_start=$(stat -c %s "$work/server.log")
  # Start on a whole second, so that the seconds wrk's script counts line up with the fault.
  t0=$(( ${EPOCHREALTIME%.*} + 1 ))
  sleep_until "$t0"
  KEYSMITH_BENCH_SECRET=$cached_secret KEYSMITH_BENCH_T0=$t0 \
    wrk -t"$threads" -c"$connections" -d"${total}s" --timeout "${total}s" -s bench/outage.lua \
    "$base/api/v1/auth/verify" >"$work/$fault-cached.txt" 2>&1 &
  cached_wrk=$!
  background+=("$cached_wrk")
  sample_metrics "$t0" "$((total + 1))" "$work/$fault-metrics.txt" &
  sampler=$!
  background+=("$sampler")

  sleep_until "$((t0 + before))"
  inject "$fault"
  echo "$fault: injected at s$(awk -v now="$EPOCHREALTIME" -v t0="$t0" 'BEGIN { printf "%.2f", now - t0 }')" >&2
  # The never-verified key starts two seconds into the fault, so that its failed lookups, which
  # tell the server the database is down, leave the fault's onset to the cached key alone; it
  # stops a second before the fault ends, so that it never meets the database.
  sleep_until "$((t0 + before + 2))"
  KEYSMITH_BENCH_SECRET=$uncached_secret KEYSMITH_BENCH_T0=$t0 KEYSMITH_BENCH_FROM=$((before + 2)) \
    wrk -t1 -c4 -d"$((fault_for - 3))s" --timeout 5s -s bench/outage.lua \
    "$base/api/v1/auth/verify" >"$work/$fault-uncached.txt" 2>&1 &
  uncached_wrk=$!
  background+=("$uncached_wrk")

  sleep_until "$((t0 + before + fault_for / 2))"
  # A client the key has not been seen with: its use is written whatever the write interval
  # (a client's use is written again only a minute after its last one written).
  outage_use=$(present "$outage_secret" "keysmith-outage-bench/during-the-fault")
  read -r status took stale ended <<<"$outage_use"
  outage_use_at=${ended%.*}

  sleep_until "$((t0 + before + fault_for))" -0.5
  use_at_fault_end=$(last_use "outage 1")
  sleep_until "$((t0 + before + fault_for))"
  inject forward
  back_at=$EPOCHREALTIME
  recovered_at=""
  while awk -v now="$EPOCHREALTIME" -v back="$back_at" 'BEGIN { exit !(now - back < 30) }'; do
    polls=$((polls + 1))
    local answer
    read -r answer _ _ ended <<<"$(present "$uncached_secret")"
    if [ "$answer" = 200 ]; then recovered_at=$ended; break; fi
    sleep 0.1
  done
  wait "$uncached_wrk" "$cached_wrk" "$sampler" || true
  background=()

  # The uses of the run are written within a few flushes once the database is back.
  local wrk_end=$EPOCHREALTIME written_in=""
  for _ in $(seq 1 100); do
    use_after=$(last_use "outage 1")
    written_after=$(last_use "$outage_key")
    if [ "$written_after" != never ] && [ "$written_after" -ge "$outage_use_at" ]; then
      written_in=$(awk -v now="$EPOCHREALTIME" -v end="$wrk_end" 'BEGIN { printf "%.1f", now - end }')
      break
    fi
    sleep 0.1
  done
  tail -c +"$((log_start + 1))" "$work/server.log" >"$work/$fault.log"

  report "$fault" "$t0" "$(($2 + 1))"
  printf '  %-14s %s\n' "a use in it" "$outage_key, verified before the fault, presented once at s$((outage_use_at - t0)): $status, X-Keysmith-Stale $stale, in $(awk -v t="$took" 'BEGIN { printf "%.1f", t * 1000 }') ms; its last use in the database afterwards: $(rel "$written_after" "$t0")"
  printf '  %-14s %s\n' "key uses" "key 1's last use in the database half a second before the fault's end: $(rel "$use_at_fault_end" "$t0"); after the run: $(rel "$use_after" "$t0")${written_in:+; the use in the fault written ${written_in} s after wrk ended}"
  if [ -n "$recovered_at" ]; then
    printf '  %-14s %s\n' "recovery" "the never-verified key answered 200 $(awk -v a="$recovered_at" -v b="$back_at" 'BEGIN { printf "%.2f", a - b }') s after the proxy forwarded again ($polls curl polls, 100 ms apart)"
  else
    printf '  %-14s %s\n' "recovery" "the never-verified key got no 200 within 30 s of the proxy forwarding again ($polls polls)"
    failures+=("$fault: no recovery within 30 s")
  fi

  # Checks against what docs/operations.md promises with the defaults.
  local before_failures=${#failures[@]}
  grep -q '^outage: answers 500 ' "$work/$fault-cached.txt" "$work/$fault-uncached.txt" && failures+=("$fault: 500 answers")
  grep '^outage: answers' "$work/$fault-cached.txt" | grep -qv '^outage: answers 200 \(stale \)\?[0-9]' &&
    failures+=("$fault: the cached key got answers other than 200")
  grep -q '^outage: silent none' "$work/$fault-cached.txt" || failures+=("$fault: seconds without an answer for the cached key")
  awk -v limit="$((2 * verify_deadline_ms))" '/^outage: latency/ { over = $4 > limit } END { exit !over }' "$work/$fault-cached.txt" &&
    failures+=("$fault: the cached key waited longer than twice the lookup deadline, $((2 * verify_deadline_ms)) ms")
  grep '^outage: answers' "$work/$fault-uncached.txt" | grep -qv '^outage: answers 503 [0-9]' &&
    failures+=("$fault: the never-verified key got answers other than 503 with Retry-After")
  awk -v limit="$((2 * verify_deadline_ms))" '/^outage: latency/ { over = $4 > limit } END { exit !over }' "$work/$fault-uncached.txt" &&
    failures+=("$fault: a 503 took longer than twice the lookup deadline, $((2 * verify_deadline_ms)) ms")
  [ "$(grep -cE '"level":"(WARN|ERROR)"' "$work/$fault.log" || true)" -le 200 ] || failures+=("$fault: more than 200 warning and error lines")
  [ "$status" = 200 ] && [ "$stale" = true ] || failures+=("$fault: $outage_key presented in the fault: got $status stale=$stale, want 200 stale=true")
  [ "$written_after" != never ] && [ "$written_after" -ge "$outage_use_at" ] || failures+=("$fault: the use of $outage_key in the fault was not written")
  [ -n "$written_in" ] || failures+=("$fault: the use in the fault not written within 10 s of the run's end")
  if [ "${#failures[@]}" = "$before_failures" ]; then
    printf '  %-14s %s\n' "checks" "ok"
  else
    printf '  %-14s %s\n' "checks" "failed: $(IFS=';'; echo "${failures[*]:$before_failures}")"
  fi
  echo
}

# report FAULT T0 UNCACHED_KEY: the answers of both wrk runs and the phase's log.
report() {
  local fault=$1 t0=$2 uncached_key=$3
  local what="refused connections"
  [ "$fault" = hang ] && what="stopped answering (hang)"
  echo "== $fault: PostgreSQL $what from s$before to s$((before + fault_for)) of a ${total} s wrk run"
  wrk_summary "cached key" "$work/$fault-cached.txt" "key 1, verified before; wrk -t$threads -c$connections"
  wrk_summary "never verified" "$work/$fault-uncached.txt" "key $uncached_key; wrk -t1 -c4 from s$((before + 2)) for $((fault_for - 3)) s"
  local log=$work/$fault.log
  printf '  %-14s %s\n' "server log" "$(wc -l <"$log") lines, $(wc -c <"$log") bytes in the phase: INFO $(grep -c '"level":"INFO"' "$log" || true), WARN $(grep -c '"level":"WARN"' "$log" || true), ERROR $(grep -c '"level":"ERROR"' "$log" || true)"
  # Warnings and errors by message, with the requests they stand for (suppressed=N), the
  # seconds they were written in and the first of each kind, cut short.
  grep -E '"level":"(WARN|ERROR)"' "$log" | awk -v t0="$t0" '
    {
      level = $0; sub(/.*"level":"/, "", level); sub(/".*/, "", level)
      msg = $0; sub(/.*"msg":"/, "", msg); sub(/".*/, "", msg)
      kind = level " " msg
      suppressed = 0
      if (match($0, /"suppressed":[0-9]+/)) { suppressed = substr($0, RSTART + 13, RLENGTH - 13) }
      time = $0; sub(/.*"time":"/, "", time); sub(/".*/, "", time)
      if (!(kind in count)) { order[++kinds] = kind; first[kind] = substr($0, 1, 400) }
      count[kind]++; left_out[kind] += suppressed
    }
    END {
      for (i = 1; i <= kinds; i++) {
        k = order[i]
        printf "  %-14s %d × %s%s\n  %-14s   %s\n", "", count[k], k, (left_out[k] ? " (suppressed=" left_out[k] " more)" : ""), "", first[k]
      }
    }'
  # Statuses in the access log, by path, with the longest time the server took for each
  # before, during and after the fault (by the line's time, in seconds since t0).
  printf '  %-14s %s\n' "access log" "$(awk -v t0="$t0" -v from="$before" -v to="$((before + fault_for))" '
    /"msg":"request"/ && match($0, /"status":[0-9]+/) {
      status = substr($0, RSTART + 9, RLENGTH - 9)
      path = "?"
      if (match($0, /"path":"[^"]*"/)) path = substr($0, RSTART + 8, RLENGTH - 9)
      took = 0
      if (match($0, /"duration_ms":[0-9.e+-]+/)) took = substr($0, RSTART + 14, RLENGTH - 14) + 0
      # "time":"2026-11-26T06:34:43.655526705Z", UTC like t0.
      second = -1
      if (match($0, /"time":"[0-9-]+T[0-9:.]+/)) {
        clock = substr($0, RSTART + 19, RLENGTH - 19)
        split(clock, hms, ":")
        second = hms[1] * 3600 + hms[2] * 60 + hms[3] - t0 % 86400
        if (second < -43200) second += 86400
      }
      window = second < from ? 1 : second < to ? 2 : 3
      k = path " " status
      if (!(k in count)) order[++n] = k
      count[k]++
      if (took > longest[k, window]) longest[k, window] = took
    }
    END {
      for (i = 1; i <= n; i++) {
        k = order[i]
        printf "%s%s ×%d (longest before/during/after the fault: %.1f/%.1f/%.1f ms%s)", (i > 1 ? ", " : ""), k, count[k],
          longest[k, 1], longest[k, 2], longest[k, 3], k ~ / 499$/ ? "; wrk closed the connection first" : ""
      }
    }' "$log")"
  # The server's metrics around the fault's onset and its end, second by second.
  printf '  %-14s %s\n' "metrics" "per second around the onset and the end of the fault (from /metrics):"
  awk -v onset="$before" -v end="$((before + fault_for))" '
    $2 == "-" { missing[$1] = 1; next }
    { at[$1] = $2; ok[$1] = $3; hits[$1] = $4; stale[$1] = $5; unavailable[$1] = $6; up[$1] = $7; open[$1] = $8; waits[$1] = $9 }
    function row(k) {
      if ((k in missing) || ((k + 1) in missing) || !(k in ok) || !((k + 1) in ok)) { printf "  %-14s s%-11d (metrics missing)\n", "", k; return }
      # Verifications ok that were not cache hits: answered from the database. The two
      # counters are read one after the other, so a request between them can make it -1.
      fromDB = (ok[k + 1] - ok[k]) - (hits[k + 1] - hits[k])
      printf "  %-14s s%-11s %8d %12d %8d %6d %9s %6d %6d\n", "", at[k] "-" at[k + 1], hits[k + 1] - hits[k], fromDB < 0 ? 0 : fromDB,
        stale[k + 1] - stale[k], unavailable[k + 1] - unavailable[k], up[k + 1] ? "up" : "down", open[k + 1], waits[k + 1] - waits[k]
    }
    END {
      printf "  %-14s %-12s %8s %12s %8s %6s %9s %6s %6s\n", "", "seconds", "hits", "ok from db", "stale", "503", "listener", "pool", "waits"
      for (k = onset - 1; k <= onset + 2; k++) row(k)
      printf "  %-14s %s\n", "", "..."
      for (k = end - 1; k <= end + 2; k++) row(k)
    }' "$work/$fault-metrics.txt"
}

# wrk_summary LABEL FILE NOTE: one wrk run's answers by kind, latency, errors and silent seconds.
wrk_summary() {
  local label=$1 file=$2 note=$3
  if ! grep -q '^outage: latency' "$file"; then
    printf '  %-14s %s\n' "$label" "wrk failed:"
    sed 's/^/    /' "$file"
    failures+=("$label: wrk failed")
    return
  fi
  printf '  %-14s %s\n' "$label" "$note"
  # Each kind with its answers before, during and after the fault, from its seconds.
  awk -v from="$before" -v to="$((before + fault_for))" '
    /^outage: answers/ {
      span = $NF; n = $(NF - 1); kind = $3; for (i = 4; i <= NF - 2; i++) kind = kind " " $i
      order[++kinds] = kind; count[kind] = n; seen[kind] = span
    }
    /^outage: seconds/ {
      line = $0; sub(/^outage: seconds /, "", line)
      kind = line; sub(/ \|.*/, "", kind)
      cells = line; sub(/^[^|]*\| ?/, "", cells)
      timeline[kind] = cells
      m = split(cells, cell, " ")
      for (i = 1; i <= m; i++) {
        split(cell[i], pair, ":")
        if (pair[1] + 0 < from) early[kind] += pair[2]
        else if (pair[1] + 0 < to) during[kind] += pair[2]
        else late[kind] += pair[2]
      }
    }
    END {
      for (i = 1; i <= kinds; i++) {
        k = order[i]
        printf "  %-14s %s ×%d, seen %s: before the fault ×%d, s%d-%d ×%d, after ×%d\n", "", k, count[k], seen[k], early[k], from, to - 1, during[k], late[k]
        printf "  %-14s   per second (s:answers): %s\n", "", timeline[k]
      }
    }' "$file"
  printf '  %-14s %s\n' "" "$(awk '
    /^outage: latency/ { printf "latency max %s ms, p99 %s ms, mean %s ms; ", $4, $7, $10 }
    /^outage: errors/ { printf "wrk errors: connect %s, read %s, write %s, timeout %s; ", $4, $6, $8, $10 }
    /^outage: silent/ { printf "seconds without an answer: %s", $3 }
    /^Requests\/sec:/ { rps = $2 }
    END { if (rps != "") printf "; %s req/s", rps }' "$file")"
}

echo "keysmith outage bench: $(nproc) cores, PostgreSQL at $pg_hostport through dbproxy at $proxy_addr, schema $schema" >&2
phase refuse 1 2
phase hang 3 4

echo "server log in all: $(wc -l <"$work/server.log") lines, $(wc -c <"$work/server.log") bytes"
if [ -s "$work/dbproxy.log" ]; then
  echo "dbproxy said:"
  sed 's/^/  /' "$work/dbproxy.log"
fi
if [ "${#failures[@]}" -gt 0 ]; then
  echo "FAILED: ${#failures[@]} check(s)" >&2
  exit 1
fi
