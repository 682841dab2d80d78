# Sourced by .ci/run: a throwaway PostgreSQL cluster for the service tests.
# Installs Debian's `postgresql` when no initdb is found, creates a cluster in a temp dir
# owned by the `postgres` user (initdb refuses root), starts it on 127.0.0.1 with a free
# port, exports DANA_POET_TEST_DATABASE_URL and removes everything at exit.

_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ci_start_postgres() {
  local bin
  bin=$(_pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "== installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    bin=$(_pg_bin)
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "postgresql: initdb not found after installing" >&2
    return 1
  fi
  PG_TMP=$(mktemp -d /tmp/dana-poet-ci-pg.XXXXXX)
  local run=()
  if [ "$(id -u)" = "0" ]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PG_TMP"
    run=(runuser -u postgres --)
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run[@]}" "$bin/initdb" -D "$PG_TMP/data" -U dana --auth=trust -E UTF8 >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log" >&2; return 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$PG_TMP/server.log" >&2; return 1; }
  PG_CTL_STOP=("${run[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -m immediate stop)
  trap ci_stop_postgres EXIT
  "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U dana dana_poet_test
  export DANA_POET_TEST_DATABASE_URL="postgresql://dana@127.0.0.1:$port/dana_poet_test"
  echo "== postgresql $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

ci_stop_postgres() {
  if [ -n "${PG_TMP:-}" ]; then
    "${PG_CTL_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
