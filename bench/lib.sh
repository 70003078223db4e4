# What bench/verify.sh and bench/unknown-keys.sh share; each sources it once it knows its
# database (sqlite or postgres, in $database). It makes the work directory, and at exit stops
# the server ($server_pid) and removes the schema and the directory. bench_database sets
# KEYSMITH_DATABASE_URL: a fresh schema of $KEYSMITH_BENCH_PG_URL (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), or an SQLite file in the work
# directory. free_port prints a loopback port that nothing answers on.

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

bench_database() {
  if [ "$database" = postgres ]; then
    schema="keysmith_bench_$$"
    psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
    local sep='?'
    case "$pg_url" in *\?*) sep='&' ;; esac
    export KEYSMITH_DATABASE_URL="$pg_url${sep}search_path=$schema"
  else
    export KEYSMITH_DATABASE_URL="$work/keysmith.db"
  fi
}

# Below Linux's ephemeral ports (32768 and up by default), which the local ends of the run's own
# connections take: one of them nothing answers on, yet a listener cannot bind it.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  echo "$port"
}
