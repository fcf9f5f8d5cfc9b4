#!/bin/sh
# cli_config.sh CREASE -- the `crease` binary's command line: help, config JSON,
# redaction, and exit status 2 with the variable named on a bad value.
set -u
crease=$1
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
clean_env() { env -u DATABASE_URL -u CHUNK_SECONDS -u SAMPLE_FPS -u MAX_WIDTH -u S3_COACH_VIDEOS_BUCKET "$@"; }

"$crease" --help | grep -q "chunk-worker" && ok "--help lists commands" || bad "--help"
"$crease" help probe >/dev/null && ok "help CMD" || bad "help CMD"
"$crease" config --help | grep -q "usage: crease config" && ok "CMD --help" || bad "CMD --help"
"$crease" nonsense 2>/dev/null; [ $? -eq 2 ] && ok "unknown command exits 2" || bad "unknown command"

out=$(clean_env DATABASE_URL='postgresql+asyncpg://u:pw@db:5432/app' "$crease" config)
echo "$out" | grep -q '"store":"postgres"' && ok "asyncpg url -> postgres" || bad "store: $out"
echo "$out" | grep -q 'pw' && bad "password leaked: $out" || ok "password redacted"

out=$(clean_env "$crease" config)
echo "$out" | grep -q '"store":"sqlite"' && echo "$out" | grep -q '"blob":"local"' &&
    echo "$out" | grep -q '"chunk_seconds":30' && ok "defaults" || bad "defaults: $out"

for kv in CHUNK_SECONDS=0 SAMPLE_FPS=abc MAX_WIDTH=-1 DATABASE_URL=mysql://x/y GPU_PROCESSING_ENABLED=perhaps; do
    name=${kv%%=*}
    err=$(clean_env "$kv" "$crease" config 2>&1 >/dev/null)
    status=$?
    lines=$(printf '%s\n' "$err" | wc -l)
    if [ $status -eq 2 ] && echo "$err" | grep -q "$name" && [ "$lines" -eq 1 ]; then
        ok "$kv exits 2 naming $name"
    else
        bad "$kv: status $status, stderr: $err"
    fi
done
# A dead database: a clear one-line error and exit 1, never a crash.
err=$(clean_env DATABASE_URL=postgresql://u@127.0.0.1:1/x "$crease" jobs list 2>&1 >/dev/null)
status=$?
lines=$(printf '%s\n' "$err" | wc -l)
if [ $status -eq 1 ] && [ "$lines" -eq 1 ] && echo "$err" | grep -q "cannot connect"; then
    ok "dead database: $err"
else
    bad "dead database: status $status, stderr: $err"
fi
echo "$fail failed" | sed 's/^0 failed$/all passed/'
exit $fail
