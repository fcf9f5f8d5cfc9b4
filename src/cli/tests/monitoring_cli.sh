#!/bin/sh
# monitoring_cli.sh CREASE REPO local|services -- /metrics, /healthz and /readyz of
# `crease serve` and of the workers' --metrics-port during a real job, every scrape
# parsed by a strict parser of the exposition format (tests/node/prom_parse.js, itself
# checked first against the format's documented example) with crease's naming rules:
#   submit a 12-chunk job -> serve: 12 queued -> a chunk worker starts; once it has
#   completed a chunk it is paused (SIGSTOP): the queue has fallen but not emptied, and
#   the worker's counter and histogram have counted what it did -> resumed: the queue
#   empties, the counter and the histogram's count reach 12, the job is ready -> an
#   analysis worker finishes it: job counter and job-time histogram at 1, jobs{done} 1.
# local: SQLite + local folder.  services: PostgreSQL + s3rver, and then what makes
# /readyz answer 503 with its reason: a bucket that does not exist, a database that is
# gone (while /healthz stays 200 and /metrics reports crease_database_up 0).
# The scrapes taken mid-job are left in the working folder (monitoring-*.txt).
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
mode=${3:-local}
parser=$repo/tests/node/prom_parse.js
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
skip() {
    echo "skip: $1"
    [ "${CREASE_TEST_REQUIRE_SERVICES:-0}" = 1 ] && exit 1
    exit 77
}
command -v curl >/dev/null 2>&1 || skip "no curl"
command -v node >/dev/null 2>&1 || skip "no node"
if [ "$mode" = services ]; then
    [ -n "${CREASE_TEST_PG_ADMIN_URL:-}" ] || skip "no PostgreSQL (CREASE_TEST_PG_ADMIN_URL)"
    [ -n "${CREASE_TEST_S3_ENDPOINT:-}" ] || skip "no S3 server (CREASE_TEST_S3_ENDPOINT)"
fi

node "$parser" self-test && ok "the parser accepts the documented example, refuses broken ones" ||
    bad "parser self-test"

tmp=$(mktemp -d /tmp/crease-monitoring-XXXXXX)
db=crease_monitoring_$$
pids=""
cleanup() {
    for p in $pids; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ "$mode" = services ] &&
        psql "$CREASE_TEST_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ "$mode" = services ]; then
    psql "$CREASE_TEST_PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null || { bad "create database"; exit 1; }
    export DATABASE_URL="${CREASE_TEST_PG_ADMIN_URL%/*}/$db"
    export S3_COACH_VIDEOS_BUCKET=$CREASE_TEST_S3_BUCKET S3_ENDPOINT_URL=$CREASE_TEST_S3_ENDPOINT
    export AWS_ACCESS_KEY_ID=$CREASE_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CREASE_TEST_S3_SECRET_KEY
else
    export DATABASE_URL="sqlite:///$tmp/crease.db" CREASE_BLOB_DIR="$tmp/blobs"
    unset S3_COACH_VIDEOS_BUCKET S3_ENDPOINT_URL
fi
export APP_SECRET_KEY=monitoring-test-secret CREASE_MODELS_DIR=$repo/models
export CHUNK_SECONDS=1 MAX_WIDTH=480 GPU_PROCESSING_ENABLED=true

# ---- helpers ----------------------------------------------------------------------

# scrape PORT NAME: GET /metrics into $tmp/NAME, parsed into $tmp/NAME.samples.
scrape() {
    curl -sf "http://127.0.0.1:$1/metrics" >"$tmp/$2" &&
        node "$parser" check "$tmp/$2" --crease >"$tmp/$2.samples"
}
# val NAME SERIES: the value of one series (exact `name{labels}` as prom_parse prints).
val() { awk -v k="$2 " 'index($0, k) == 1 { print substr($0, length(k) + 1) }' "$tmp/$1.samples"; }
# sum NAME PREFIX: the sum over the series starting with PREFIX (e.g. every engine).
sum() { awk -v k="$2" 'index($0, k) == 1 { s += $NF } END { print s + 0 }' "$tmp/$1.samples"; }
status() { curl -s -o "$tmp/body" -w "%{http_code}" "$@"; }
# port_from FILE PATTERN: waits for the port a process logs.
port_from() {
    i=0
    while [ $i -lt 200 ]; do
        p=$(sed -n "s|.*$2\([0-9][0-9]*\).*|\1|p" "$1" | head -n1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
# wait_for NAME PORT SERIES VALUE: polls the scrape until SERIES equals VALUE.
wait_for() {
    i=0
    while [ $i -lt 1200 ]; do
        scrape "$2" "$1" 2>/dev/null && [ "$(val "$1" "$3")" = "$4" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# ---- a job ------------------------------------------------------------------------

ffmpeg -v error -y -f lavfi -i color=c=gray:s=720x540:r=25:d=12 -loop 1 -i "$repo/media/cold_water.jpg" \
    -filter_complex "[1]scale=560:-2[p];[0][p]overlay=x='20+24*t':y=60:shortest=1,format=yuv420p" \
    -t 12 -c:v libx264 -preset veryfast -g 50 "$tmp/clip.mp4" || { bad "ffmpeg"; exit 1; }
"$crease" migrate up >/dev/null || bad "migrate up"
sub=$("$crease" submit --mode batting "$tmp/clip.mp4") || bad "submit"
echo "$sub" | grep -q '"chunks":12' && ok "a job of 12 chunks" || bad "submit: $sub"

"$crease" serve --port 0 --workers 0 >"$tmp/serve.out" 2>"$tmp/serve.log" &
pids="$pids $!"
sp=$(port_from "$tmp/serve.out" "listening on http://127.0.0.1:") || { bad "serve did not start"; cat "$tmp/serve.log"; exit 1; }
[ "$(status "http://127.0.0.1:$sp/healthz")" = 200 ] && ok "serve /healthz 200" || bad "serve /healthz"
[ "$(status "http://127.0.0.1:$sp/readyz")" = 200 ] && grep -q '"ready"' "$tmp/body" &&
    ok "serve /readyz 200" || bad "serve /readyz: $(cat "$tmp/body")"
scrape "$sp" s0 && ok "serve's scrape parses" || bad "serve's scrape: $(cat "$tmp/s0" | head -c 300)"
[ "$(val s0 crease_chunks_queued)" = 12 ] && ok "12 chunks queued" || bad "queued: $(val s0 crease_chunks_queued)"
[ "$(val s0 'crease_jobs{status="queued"}')" = 1 ] && [ "$(val s0 crease_database_up)" = 1 ] &&
    [ "$(val s0 'crease_build_info{blobs="'"$( [ "$mode" = services ] && echo s3 || echo local)"'",role="serve",store="'"$( [ "$mode" = services ] && echo postgres || echo sqlite)"'",version="0.1.0"}')" = 1 ] &&
    ok "jobs by status, database up, build info" || bad "serve gauges: $(grep -v '^process' "$tmp/s0.samples" | head -20)"

# GPU gauges: there exactly when NVML is (libnvidia-ml.so.1, opened at run time).
if ldconfig -p 2>/dev/null | grep -q 'libnvidia-ml\.so\.1 '; then
    grep -q '^crease_gpu_utilization_ratio{' "$tmp/s0.samples" && ok "NVML here: GPU utilization reported" ||
        bad "NVML present but no GPU gauge"
else
    ! grep -q '^crease_gpu_' "$tmp/s0.samples" && ok "no NVML here: no GPU gauge (absent, not 0)" ||
        bad "GPU gauges without NVML"
fi

# The chunk worker, paused once it has completed a chunk.
"$crease" chunk-worker --metrics-port 0 --poll 0.1 2>"$tmp/cw.log" &
cw=$!
pids="$pids $cw"
wp=$(port_from "$tmp/cw.log" "metrics_port=") || { bad "chunk worker's metrics port"; cat "$tmp/cw.log"; exit 1; }
i=0
c1=0
while [ $i -lt 1200 ]; do
    if scrape "$wp" w1 2>/dev/null; then
        c1=$(sum w1 'crease_chunks_completed_total{')
        [ "$c1" -ge 1 ] && break
    fi
    sleep 0.05
    i=$((i + 1))
done
kill -STOP $cw
scrape "$sp" s1 || bad "serve's scrape mid-job"
q1=$(val s1 crease_chunks_queued)
inflight=$(val s1 crease_chunks_in_flight)
h1=$(sum w1 'crease_chunk_processing_seconds_count{')
[ "$c1" -ge 1 ] && [ "$h1" = "$c1" ] &&
    ok "mid-job: the worker counted $c1 chunk(s), its histogram as many" || bad "mid-job worker: completed $c1, histogram $h1"
[ "$q1" -lt 12 ] && [ "$q1" -gt 0 ] && ok "mid-job: the queue fell to $q1 (in flight $inflight)" ||
    bad "mid-job queue: $q1"
cp "$tmp/s1" "monitoring-serve-midjob-$mode.txt" 2>/dev/null
cp "$tmp/w1" "monitoring-chunk-worker-midjob-$mode.txt" 2>/dev/null
kill -CONT $cw

wait_for s2 "$sp" crease_chunks_queued 0 && wait_for s2 "$sp" crease_jobs_ready_for_aggregation 1 &&
    ok "the queue emptied, the job is ready" || bad "queue: $(val s2 crease_chunks_queued)"
wait_for w2 "$wp" 'crease_chunks_failed_total' 0 || bad "worker scrape"
i=0
while [ "$(sum w2 'crease_chunks_completed_total{')" != 12 ] && [ $i -lt 200 ]; do
    sleep 0.05; scrape "$wp" w2; i=$((i + 1))
done
c2=$(sum w2 'crease_chunks_completed_total{')
h2=$(sum w2 'crease_chunk_processing_seconds_count{')
hinf=$(awk 'index($0, "crease_chunk_processing_seconds_bucket{") == 1 && index($0, "le=\"+Inf\"") { s += $NF } END { print s + 0 }' "$tmp/w2.samples")
hsum=$(sum w2 'crease_chunk_processing_seconds_sum{')
[ "$c2" = 12 ] && [ "$h2" = 12 ] && [ "$hinf" = 12 ] && [ "$c2" -gt "$c1" ] &&
    awk -v s="$hsum" 'BEGIN { exit !(s > 0) }' &&
    ok "completed counter $c1 -> $c2, histogram count $h1 -> $h2 (sum ${hsum}s)" ||
    bad "worker after: completed $c2 histogram $h2 +Inf $hinf sum $hsum"
[ "$(val w2 crease_chunks_failed_total)" = 0 ] && [ "$(val w2 crease_chunks_retried_total)" = 0 ] &&
    [ "$(val w2 'crease_worker_in_flight{kind="chunk"}')" = 0 ] &&
    awk -v t="$(val w2 crease_worker_last_activity_timestamp_seconds)" -v now="$(date +%s)" \
        'BEGIN { exit !(t > now - 60 && t <= now + 1) }' &&
    ok "no failure, nothing in flight, the worker loop is alive" || bad "worker gauges: $(grep crease_worker "$tmp/w2.samples")"
[ "$(val w2 'crease_build_info{blobs="'"$( [ "$mode" = services ] && echo s3 || echo local)"'",role="chunk-worker",store="'"$( [ "$mode" = services ] && echo postgres || echo sqlite)"'",version="0.1.0"}')" = 1 ] &&
    [ "$(val w2 crease_chunks_queued)" = 0 ] && ok "the worker's port has the database gauges and its role" ||
    bad "worker build info / gauges"
[ "$(status "http://127.0.0.1:$wp/healthz")" = 200 ] && [ "$(status "http://127.0.0.1:$wp/readyz")" = 200 ] &&
    ok "worker /healthz and /readyz 200" || bad "worker health: $(cat "$tmp/body")"
[ "$(status -X POST "http://127.0.0.1:$wp/metrics")" = 405 ] && [ "$(status "http://127.0.0.1:$wp/nope")" = 404 ] &&
    ok "worker port: 405 for POST, 404 elsewhere" || bad "worker port errors"

# The analysis worker finishes the job.
"$crease" analysis-worker --metrics-port 0 --poll 0.1 2>"$tmp/aw.log" &
aw=$!
pids="$pids $aw"
ap=$(port_from "$tmp/aw.log" "metrics_port=") || { bad "analysis worker's metrics port"; cat "$tmp/aw.log"; exit 1; }
wait_for a1 "$ap" crease_jobs_completed_total 1 && ok "the analysis worker counted the job" ||
    bad "jobs completed: $(val a1 crease_jobs_completed_total)"
jc=$(val a1 crease_job_completion_seconds_count)
js=$(val a1 crease_job_completion_seconds_sum)
[ "$jc" = 1 ] && [ "$(val a1 'crease_job_completion_seconds_bucket{le="+Inf"}')" = 1 ] &&
    awk -v s="$js" 'BEGIN { exit !(s > 0 && s < 3600) }' &&
    ok "job completion time observed: ${js}s from upload-complete to done" || bad "job time: count $jc sum $js"
wait_for s3 "$sp" 'crease_jobs{status="done"}' 1 && [ "$(val s3 'crease_jobs{status="queued"}')" = 0 ] &&
    [ "$(val s3 crease_jobs_ready_for_aggregation)" = 0 ] && ok "serve: the job is done" ||
    bad "serve after: $(grep crease_jobs "$tmp/s3.samples")"
for p in $cw $aw; do kill -TERM $p; wait $p || bad "worker $p exit $?"; done
pids=${pids%% $cw*}

if [ "$mode" = services ]; then
    # A bucket that does not exist: not ready, and the reason names the blob store.
    S3_COACH_VIDEOS_BUCKET=crease-no-such-bucket "$crease" serve --port 0 --workers 0 \
        >"$tmp/serve2.out" 2>"$tmp/serve2.log" &
    pids="$pids $!"
    sp2=$(port_from "$tmp/serve2.out" "listening on http://127.0.0.1:") || bad "second serve"
    [ "$(status "http://127.0.0.1:$sp2/healthz")" = 200 ] &&
        [ "$(status "http://127.0.0.1:$sp2/readyz")" = 503 ] && grep -q 'blob store' "$tmp/body" &&
        ok "missing bucket: /healthz 200, /readyz 503 $(cat "$tmp/body")" || bad "readyz with a missing bucket: $(cat "$tmp/body")"
    # The database gone: not ready, the reason names it, its gauges are absent.
    psql "$CREASE_TEST_PG_ADMIN_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null || bad "drop database"
    [ "$(status "http://127.0.0.1:$sp/healthz")" = 200 ] &&
        [ "$(status "http://127.0.0.1:$sp/readyz")" = 503 ] && grep -q 'database' "$tmp/body" &&
        ok "database gone: /healthz 200, /readyz 503 $(cat "$tmp/body")" || bad "readyz without a database: $(cat "$tmp/body")"
    scrape "$sp" s4 && [ "$(val s4 crease_database_up)" = 0 ] && [ -z "$(val s4 crease_chunks_queued)" ] &&
        ok "database gone: crease_database_up 0, no queue gauge (not a false 0)" || bad "metrics without a database"
fi

[ $fail -eq 0 ] && echo "all passed" || echo "some failed"
exit $fail
