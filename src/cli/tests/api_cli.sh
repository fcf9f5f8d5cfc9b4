#!/bin/sh
# api_cli.sh CREASE -- `crease serve` and `crease token` as commands: usage, the
# missing-secret error (exit 2), a real server answering /health, and SIGTERM (exit 0).
set -u
crease=$1
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1" >&2; fail=1; fi; }
command -v curl >/dev/null 2>&1 || { echo "no curl CLI" >&2; exit 77; }

dir=$(mktemp -d /tmp/crease-api-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
export DATABASE_URL="sqlite:///$dir/crease.db" CREASE_BLOB_DIR="$dir/blobs"
unset APP_SECRET_KEY

check '"$crease" serve --help | grep -q "usage: crease serve"'
check '"$crease" token --help | grep -q "usage: crease token"'
"$crease" serve --port 0 >/dev/null 2>"$dir/err"; rc=$?
check '[ $rc -eq 2 ]'
check 'grep -q APP_SECRET_KEY "$dir/err"'
"$crease" token --sub coach-1 >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'

export APP_SECRET_KEY=cli-test-secret
"$crease" serve --port nope >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
"$crease" token >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]'
tok=$("$crease" token --sub coach-1 --ttl 600)
check 'echo "$tok" | grep -Eq "^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$"'

"$crease" serve --port 0 --workers 1 >"$dir/out" 2>"$dir/log" &
pid=$!
url=""
i=0
while [ $i -lt 100 ] && [ -z "$url" ]; do
    url=$(sed -n 's/^crease serve: listening on \(http[^ ]*\)$/\1/p' "$dir/out")
    [ -z "$url" ] && sleep 0.1
    i=$((i + 1))
done
check '[ -n "$url" ]'
check 'curl -sf "$url/health" | grep -q "\"status\":\"ok\""'
check '[ "$(curl -s -o /dev/null -w "%{http_code}" "$url/api/coaches/plus/analysis-jobs")" = 401 ]'
check '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $tok" "$url/api/coaches/plus/analysis-jobs")" = 200 ]'
kill -TERM $pid
wait $pid; rc=$?
check '[ $rc -eq 0 ]'
check 'grep -q "crease serve: stopped" "$dir/out"'
[ $fail -eq 0 ] && echo "api_cli: ok"
exit $fail
