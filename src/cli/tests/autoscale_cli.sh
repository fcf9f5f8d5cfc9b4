#!/bin/sh
# autoscale_cli.sh CREASE REPO -- `crease autoscale-metric` against a stand-in of
# CloudWatch's query API (tests/node/cloudwatch_server.js) that checks each request as
# AWS does and recomputes its SigV4 signature independently (node's crypto), itself
# checked first against the SigV4 test suite's vectors:
#   a job of 6 queued chunks (SQLite) -> --once: QueuedChunks 6, QueuedChunksPerWorker
#   6 (no worker holds a lease: divided by 1), Unit Count, the dimension, signed for
#   "monitoring" in AWS_REGION; --workers 4: 1.5; a session token signed and sent; a
#   wrong secret: SignatureDoesNotMatch, exit 1; no credentials: exit 1 naming the
#   variables; bad options: exit 2; the loop publishes until SIGTERM, exit 0;
#   --print-query counts the same 6 when run by sqlite3 itself.
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
server=$repo/tests/node/cloudwatch_server.js
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
command -v node >/dev/null 2>&1 || { echo "skip: no node"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 || { echo "skip: no sqlite3"; exit 77; }

node "$server" self-test && ok "the verifier reproduces the SigV4 test suite" || bad "verifier self-test"

tmp=$(mktemp -d /tmp/crease-autoscale-XXXXXX)
spid=""
cleanup() {
    [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export DATABASE_URL="sqlite:///$tmp/crease.db" CREASE_BLOB_DIR="$tmp/blobs" CHUNK_SECONDS=1
unset S3_COACH_VIDEOS_BUCKET S3_ENDPOINT_URL AWS_SESSION_TOKEN
ffmpeg -v error -y -f lavfi -i testsrc=s=320x240:r=10:d=6 -pix_fmt yuv420p -c:v libx264 \
    -preset veryfast "$tmp/clip.mp4" || { bad "ffmpeg"; exit 1; }
"$crease" migrate up >/dev/null || bad "migrate"
"$crease" submit "$tmp/clip.mp4" | grep -q '"chunks":6' && ok "6 chunks queued" || bad "submit"

CW_ACCESS_KEY=AKIDCREASETEST CW_SECRET=test/secret+key CW_REGION=eu-west-1 \
    node "$server" "$tmp/port" "$tmp/log" &
spid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
ep="http://127.0.0.1:$(cat "$tmp/port")/"
export AWS_ACCESS_KEY_ID=AKIDCREASETEST AWS_SECRET_ACCESS_KEY=test/secret+key AWS_REGION=eu-west-1

# field NTH KEY: the parameter KEY of the NTH logged request (1-based).
field() { sed -n "${1}p" "$tmp/log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const v=process.argv[1]==="ok"?j.ok:process.argv[1]==="code"?j.code:process.argv[1]==="token"?j.token:process.argv[1]==="signed"?(j.signedHeaders||[]).join(";"):(j.params||{})[process.argv[1]];console.log(v===undefined?"":v)})' "$2"; }

"$crease" autoscale-metric --once --endpoint "$ep" --dimension ServiceName=crease-chunk-workers \
    2>"$tmp/err1" && ok "--once: exit 0" || bad "--once: $(cat "$tmp/err1")"
[ "$(field 1 ok)" = true ] && [ "$(field 1 code)" = OK ] && ok "signature verified independently" ||
    bad "request 1: $(sed -n 1p "$tmp/log")"
[ "$(field 1 Namespace)" = Cricksy/VideoAnalysis ] &&
    [ "$(field 1 MetricData.member.1.MetricName)" = QueuedChunks ] &&
    [ "$(field 1 MetricData.member.1.Value)" = 6 ] &&
    [ "$(field 1 MetricData.member.1.Unit)" = Count ] &&
    [ "$(field 1 MetricData.member.2.MetricName)" = QueuedChunksPerWorker ] &&
    [ "$(field 1 MetricData.member.2.Value)" = 6 ] &&
    [ "$(field 1 MetricData.member.2.Dimensions.member.1.Name)" = ServiceName ] &&
    [ "$(field 1 MetricData.member.2.Dimensions.member.1.Value)" = crease-chunk-workers ] &&
    [ "$(field 1 signed)" = "content-type;host;x-amz-date" ] &&
    ok "PutMetricData: QueuedChunks 6, QueuedChunksPerWorker 6, Count, the dimension" ||
    bad "parameters: $(sed -n 1p "$tmp/log")"

"$crease" autoscale-metric --once --endpoint "$ep" --workers 4 --namespace Crease/Test 2>/dev/null &&
    [ "$(field 2 MetricData.member.2.Value)" = 1.5 ] && [ "$(field 2 Namespace)" = Crease/Test ] &&
    [ -z "$(field 2 MetricData.member.1.Dimensions.member.1.Name)" ] &&
    ok "--workers 4: 1.5 per worker; --namespace" || bad "--workers: $(sed -n 2p "$tmp/log")"

AWS_SESSION_TOKEN="session/token=" "$crease" autoscale-metric --once --endpoint "$ep" 2>/dev/null &&
    [ "$(field 3 ok)" = true ] && [ "$(field 3 token)" = "session/token=" ] &&
    [ "$(field 3 signed)" = "content-type;host;x-amz-date;x-amz-security-token" ] &&
    ok "a session token is sent and signed" || bad "token: $(sed -n 3p "$tmp/log")"

AWS_SECRET_ACCESS_KEY=wrong "$crease" autoscale-metric --once --endpoint "$ep" 2>"$tmp/err4"; st=$?
[ $st -eq 1 ] && grep -q SignatureDoesNotMatch "$tmp/err4" && [ "$(field 4 ok)" = false ] &&
    ok "wrong secret: exit 1, $(cat "$tmp/err4")" || bad "wrong secret: $st $(cat "$tmp/err4")"
AWS_REGION=us-west-2 "$crease" autoscale-metric --once --endpoint "$ep" 2>/dev/null; st=$?
[ $st -eq 1 ] && [ "$(field 5 code)" = SignatureDoesNotMatch ] && ok "another region: refused" ||
    bad "region: $st"
env -u AWS_ACCESS_KEY_ID "$crease" autoscale-metric --once --endpoint "$ep" 2>"$tmp/err6"; st=$?
[ $st -eq 1 ] && grep -q AWS_ACCESS_KEY_ID "$tmp/err6" && [ "$(wc -l <"$tmp/log")" -eq 5 ] &&
    ok "no credentials: exit 1 before any request" || bad "no credentials: $st $(cat "$tmp/err6")"
for args in "--dimension nope" "--interval 0" "--workers 0" "stray" "--endpoint"; do
    # shellcheck disable=SC2086 # one word per option
    "$crease" autoscale-metric $args >/dev/null 2>&1; st=$?
    [ $st -eq 2 ] || bad "autoscale-metric $args: exit $st, not 2"
done
ok "bad options exit 2"
"$crease" autoscale-metric --once --endpoint "ftp://x/" 2>/dev/null; st=$?
[ $st -eq 1 ] && ok "a non-http endpoint: exit 1" || bad "endpoint ftp: $st"

# The loop: publications until SIGTERM.
"$crease" autoscale-metric --interval 1 --endpoint "$ep" 2>"$tmp/loop" &
lp=$!
i=0
while [ "$(wc -l <"$tmp/log")" -lt 7 ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
kill -TERM $lp
wait $lp; st=$?
[ $st -eq 0 ] && [ "$(wc -l <"$tmp/log")" -ge 7 ] && [ "$(field 7 ok)" = true ] &&
    [ "$(grep -c autoscale.published "$tmp/loop")" -ge 2 ] &&
    ok "the loop published and stopped on SIGTERM (exit 0)" || bad "loop: exit $st $(cat "$tmp/loop")"

q=$("$crease" autoscale-metric --print-query)
[ "$(sqlite3 "$tmp/crease.db" "$q")" = 6 ] && ok "--print-query counts the 6 queued chunks" ||
    bad "--print-query: $q"

[ $fail -eq 0 ] && echo "all passed" || echo "some failed"
exit $fail
