#!/usr/bin/env bash
# run.sh BENCH_STORE [SECONDS] -- runs bench_store against a throwaway local
# PostgreSQL (started here in a temp folder, stopped at the end) and SQLite.
# Runs twice: with the server's defaults (fsync on, as in production) and with
# fsync=off (as the test services run it).  Needs PostgreSQL's server binaries.
set -u
bench=${1:?usage: run.sh BENCH_STORE [SECONDS]}
secs=${2:-3}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$pgbin" ]; then
    echo "run.sh: no PostgreSQL server binaries under /usr/lib/postgresql" >&2
    exit 3
fi
dir=$(mktemp -d /tmp/crease-bench-pg.XXXXXX)
chmod 755 "$dir"
as=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd -r -M postgres
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
port=55499
"${as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
export CREASE_TEST_PG_URL=postgresql://postgres@127.0.0.1:$port/postgres
export CREASE_TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:$port/postgres
rc=0
for opts in "" "-c fsync=off"; do
    "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o \
        "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=100 $opts" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "== PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') ${opts:-(defaults: fsync on)}"
    "$bench" "$([ -z "$opts" ] && echo all || echo pg)" "$secs" 2>&1 | grep -v NOTICE || rc=1
    "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
done
rm -rf "$dir"
exit $rc
