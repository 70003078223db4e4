#!/usr/bin/env bash
# Peak memory of a sign-in flood: 200 concurrent sign-in attempts from 20 loopback addresses,
# the server's peak resident memory (VmHWM) against the target of 200 MB, and what the owner of
# an account meets meanwhile.
#
#   bench/login-flood.sh [--pg]
#     --pg   PostgreSQL, in a fresh schema of $KEYSMITH_BENCH_PG_URL
#            (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable);
#            without it, SQLite in a temporary directory
#
# Builds keysmith, starts it on a free loopback port over a fresh database, and creates a user
# with a random password that only the script knows (through --password-stdin, and a file only
# this user can read). Then, for each of $WAVES waves (default 3):
#   - each of $ADDRESSES addresses (default 20; 127.0.W.10 and up, W the wave) fetches the login
#     page once with curl --interface, for its CSRF cookie and token;
#   - one curl --parallel sends $ATTEMPTS attempts at once (default 200; the addresses take turns),
#     each a made-up email with a wrong password, so that every attempt the throttle lets
#     through costs a hash (an unknown account is checked against a dummy);
#   - half a second in, the owner signs in from 127.0.W.250, trying again after each 503 as its
#     Retry-After says, for at most 10 seconds;
#   - it prints the answers by status, the slowest answer and the owner's sign-in.
# Last it prints the server's resident memory before the flood, at its peak (VmHWM, from
# /proc) and after, the server's warnings and errors, and checks the target: a peak under
# $PEAK_LIMIT_MB (200); no answer but 401, 429 and 503; every 503 with Retry-After; the owner
# signed in each wave. The script exits 1 if one fails.
#
# LOG_DIR=DIR keeps there the server's log and the answers. Everything else in the environment
# reaches the server as it is (GOMAXPROCS=4 bench/login-flood.sh); KEYSMITH_DATABASE_URL and
# KEYSMITH_ADDR are the script's own. It takes about half a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bench/login-flood.sh [--pg] (tuned by WAVES, ADDRESSES, ATTEMPTS, PEAK_LIMIT_MB, LOG_DIR)"
database=sqlite
while [ $# -gt 0 ]; do
  case "$1" in
    --pg) database=postgres ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
waves=${WAVES:-3}
addresses=${ADDRESSES:-20}
attempts=${ATTEMPTS:-200}
peak_limit_mb=${PEAK_LIMIT_MB:-200}
for n in "$waves" "$addresses" "$attempts" "$peak_limit_mb"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "WAVES, ADDRESSES, ATTEMPTS and PEAK_LIMIT_MB want whole numbers of at least 1, got '$n'" >&2; exit 2; }
done
[ "$waves" -le 200 ] && [ "$addresses" -le 200 ] || { echo "WAVES and ADDRESSES go up to 200" >&2; exit 2; }

work=$(mktemp -d)
server_pid=""
schema=""
pg_url=${KEYSMITH_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$schema" ]; then psql -q "$pg_url" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; fi
  if [ -n "${LOG_DIR:-}" ]; then mkdir -p "$LOG_DIR" && cp "$work"/*.log "$work"/answers.* "$LOG_DIR"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/keysmith" .

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

owner=owner@example.com
# No newline at its end, so that --data-urlencode sends the password as it is.
(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n' >"$work/password")
"$work/keysmith" users create --email "$owner" --name Owner --permission super-admin --password-stdin <"$work/password" >/dev/null

"$work/keysmith" serve >"$work/stdout.log" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$base/readyz" || { tail -n 20 "$work/server.log" >&2; echo "the server did not get ready" >&2; exit 1; }

# memory FIELD: the server's VmRSS or VmHWM in MB.
memory() { awk -v field="$1:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"; }
rss_before=$(memory VmRSS)

# login_page ADDRESS JAR: fetches the login page from ADDRESS into the cookie jar JAR and prints
# its CSRF token.
login_page() {
  curl -fsS --interface "$1" -c "$2" "$base/login" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -n 1
}

# owner_signs_in ADDRESS: signs the owner in from ADDRESS, trying again after each 503 for at
# most 10 seconds; prints the last status, the tries and the seconds it took.
owner_signs_in() {
  local jar="$work/owner.$1.jar" token status tries=0 start=$EPOCHREALTIME retry
  token=$(login_page "$1" "$jar")
  while :; do
    tries=$((tries + 1))
    status=$(curl -s --interface "$1" -b "$jar" -c "$jar" -o /dev/null -D "$work/owner.headers" -w '%{http_code}' \
      --data-urlencode "email=$owner" --data-urlencode "password@$work/password" --data-urlencode "_csrf=$token" "$base/login")
    [ "$status" = 503 ] || break
    retry=$(awk 'tolower($1) == "retry-after:" { print $2 + 0 }' "$work/owner.headers")
    awk -v s="$start" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n - s > 10) }' && break
    sleep "${retry:-1}"
  done
  awk -v s="$start" -v n="$EPOCHREALTIME" -v status="$status" -v tries="$tries" 'BEGIN { printf "%s after %d tries in %.2fs\n", status, tries, n - s }'
}

failures=()
tokens=()
cookies=()
for wave in $(seq 1 "$waves"); do
  config="$work/wave$wave.curl"
  : >"$config"
  for a in $(seq 0 $((addresses - 1))); do
    ip="127.0.$wave.$((10 + a))"
    tokens[a]=$(login_page "$ip" "$work/jar.$wave.$a")
    # One curl shares one cookie engine among its transfers, which would keep one address's
    # cookie for all: each transfer sends its own as a header instead. (HttpOnly cookies are
    # written as lines that start with "#HttpOnly_".)
    cookies[a]=$(awk '(!/^#/ || /^#HttpOnly_/) && NF >= 7 { printf "%s%s=%s", sep, $6, $7; sep = "; " }' "$work/jar.$wave.$a")
    [ -n "${tokens[a]}" ] && [ -n "${cookies[a]}" ] || { echo "no CSRF cookie and token from the login page for $ip" >&2; exit 1; }
  done
  for i in $(seq 0 $((attempts - 1))); do
    a=$((i % addresses))
    # "next" separates transfers; after the last one it would start an empty one.
    [ "$i" = 0 ] || echo next >>"$config"
    cat >>"$config" <<EOF
url = "$base/login"
interface = "127.0.$wave.$((10 + a))"
header = "Cookie: ${cookies[a]}"
data = "email=made-up-$wave-$i%40example.com&password=wrong-password"
data-urlencode = "_csrf=${tokens[a]}"
output = "/dev/null"
dump-header = "$work/headers.$wave.$i"
write-out = "%{http_code} %{time_total} $i\\n"
EOF
  done
  curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max "$attempts" -K "$config" >"$work/answers.$wave" &
  flood_pid=$!
  sleep 0.5
  owner_result=$(owner_signs_in "127.0.$wave.250")
  wait "$flood_pid" || true

  echo "wave $wave: $attempts attempts from $addresses addresses"
  awk '{ count[$1]++ } END { for (s in count) printf "  %d × %s\n", count[s], s }' "$work/answers.$wave" | sort -k3
  sort -k2 -n "$work/answers.$wave" | awk '{ t[NR] = $2 } END { printf "  answer times: median %.3fs, slowest %.3fs\n", t[int((NR + 1) / 2)], t[NR] }'
  echo "  the owner, meanwhile: $owner_result"
  [ "$(wc -l <"$work/answers.$wave")" = "$attempts" ] || failures+=("wave $wave: $(wc -l <"$work/answers.$wave") answers, want $attempts")
  if unexpected=$(awk '$1 != 401 && $1 != 429 && $1 != 503' "$work/answers.$wave") && [ -n "$unexpected" ]; then
    failures+=("wave $wave: answers other than 401, 429 and 503: $(echo "$unexpected" | awk '{ print $1 }' | sort | uniq -c | tr '\n' ' ')")
  fi
  for i in $(awk '$1 == 503 { print $3 }' "$work/answers.$wave"); do
    grep -qi '^retry-after:' "$work/headers.$wave.$i" || { failures+=("wave $wave: a 503 without Retry-After"); break; }
  done
  case "$owner_result" in 303*) ;; *) failures+=("wave $wave: the owner did not sign in: $owner_result") ;; esac
done

peak=$(memory VmHWM)
rss_after=$(memory VmRSS)
sleep "${IDLE_AFTER:-5}"
rss_later=$(memory VmRSS)
echo "server memory: ${rss_before} MB before the flood, peak (VmHWM) ${peak} MB, ${rss_after} MB right after, ${rss_later} MB ${IDLE_AFTER:-5} s later"
echo "server log: $(grep -cE 'level=ERROR' "$work/server.log" || true) errors, $(grep -cE 'level=WARN' "$work/server.log" || true) warnings"
grep -E 'level=(ERROR|WARN)' "$work/server.log" | head -n 5 | cut -c1-300 | sed 's/^/  /' || true
awk -v p="$peak" -v l="$peak_limit_mb" 'BEGIN { exit !(p >= l) }' && failures+=("peak resident memory ${peak} MB, want under ${peak_limit_mb} MB")

if [ ${#failures[@]} -gt 0 ]; then
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "ok: peak ${peak} MB < ${peak_limit_mb} MB; every answer 401, 429 or 503 (with Retry-After); the owner signed in during each wave"
