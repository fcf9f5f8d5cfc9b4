#!/bin/sh
# pipeline_cli.sh CREASE REPO -- the worker commands as separate processes, the way a
# distributed deployment runs them (PostgreSQL + s3rver), and `crease analyze` on
# the embedded default:
#   submit -> two chunk workers, one stopped by SIGTERM mid-job (it must finish its
#   chunk and exit 0) -> the other drains the queue -> analysis worker -> job done;
#   bad usage exits 2; bad input exits 1 with a clear message.
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
skip() {
    echo "skip: $1"
    [ "${CREASE_TEST_REQUIRE_SERVICES:-0}" = 1 ] && exit 1
    exit 77
}
[ -n "${CREASE_TEST_PG_ADMIN_URL:-}" ] || skip "no PostgreSQL (CREASE_TEST_PG_ADMIN_URL)"
[ -n "${CREASE_TEST_S3_ENDPOINT:-}" ] || skip "no S3 server (CREASE_TEST_S3_ENDPOINT)"

tmp=$(mktemp -d /tmp/crease-pipecli-XXXXXX)
db=crease_pipecli_$$
cleanup() {
    psql "$CREASE_TEST_PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
psql "$CREASE_TEST_PG_ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null || { bad "create database"; exit 1; }

export DATABASE_URL="${CREASE_TEST_PG_ADMIN_URL%/*}/$db"
export S3_COACH_VIDEOS_BUCKET=$CREASE_TEST_S3_BUCKET
export S3_ENDPOINT_URL=$CREASE_TEST_S3_ENDPOINT
export AWS_ACCESS_KEY_ID=$CREASE_TEST_S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$CREASE_TEST_S3_SECRET_KEY
export CREASE_MODELS_DIR=$repo/models
export CHUNK_SECONDS=1 MAX_WIDTH=480

ffmpeg -v error -y -f lavfi -i color=c=gray:s=720x540:r=25:d=8 -loop 1 -i "$repo/media/cold_water.jpg" \
    -filter_complex "[1]scale=560:-2[p];[0][p]overlay=x='20+24*t':y=60:shortest=1,format=yuv420p" \
    -t 8 -c:v libx264 -preset veryfast -g 50 "$tmp/clip.mp4" || { bad "ffmpeg"; exit 1; }

"$crease" migrate up >/dev/null && ok "migrate up" || bad "migrate up"
"$crease" chunk-worker --lease abc 2>/dev/null; [ $? -eq 2 ] && ok "bad --lease exits 2" || bad "bad --lease"
"$crease" chunk-worker extra 2>/dev/null; [ $? -eq 2 ] && ok "stray argument exits 2" || bad "stray argument"
"$crease" submit 2>/dev/null; [ $? -eq 2 ] && ok "submit without file exits 2" || bad "submit usage"
head -c 200000 /dev/urandom > "$tmp/junk.mp4"
err=$("$crease" submit "$tmp/junk.mp4" 2>&1 >/dev/null); st=$?
[ $st -eq 1 ] && [ -n "$err" ] && ok "junk video rejected: $err" || bad "junk video: status $st"

sub=$("$crease" submit --mode bowling "$tmp/clip.mp4") || bad "submit"
job=$(echo "$sub" | sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p')
echo "$sub" | grep -q '"chunks":8' && ok "submit planned 8 chunks" || bad "submit: $sub"

# Worker A runs until told to stop; worker B drains the queue and exits.
"$crease" chunk-worker --poll 0.1 2>"$tmp/a.log" &
a=$!
i=0
until grep -q chunk.completed "$tmp/a.log" || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $a
"$crease" chunk-worker --poll 0.1 --idle-exit 2>"$tmp/b.log" &
b=$!
wait $a; sa=$?
[ $sa -eq 0 ] && grep -q worker.stop "$tmp/a.log" && ok "SIGTERM: worker A finished and exited 0" ||
    { bad "worker A exit $sa"; cat "$tmp/a.log"; }
wait $b; sb=$?
[ $sb -eq 0 ] && ok "worker B drained the queue" || { bad "worker B exit $sb"; cat "$tmp/b.log"; }
na=$(grep -c chunk.completed "$tmp/a.log"); nb=$(grep -c chunk.completed "$tmp/b.log")
[ $((na + nb)) -eq 8 ] && ok "8 chunks completed once each ($na by A, $nb by B)" ||
    bad "chunks completed: A $na, B $nb"

"$crease" analysis-worker --poll 0.1 --idle-exit 2>"$tmp/c.log" && ok "analysis worker" ||
    { bad "analysis worker"; cat "$tmp/c.log"; }
show=$("$crease" jobs show "$job")
echo "$show" | grep -q "^status *done" && echo "$show" | grep -q "^progress *100%" &&
    ok "job done, 100 %" || bad "job: $show"
key=$(echo "$show" | sed -n 's/^results *//p')
"$crease" blob get "$key" "$tmp/final.json" >/dev/null && grep -q '"frames":80' "$tmp/final.json" &&
    ok "final_results.json has 80 frames" || bad "final results $key"

# The embedded default, in a fresh folder.
mkdir "$tmp/embedded"
out=$(cd "$tmp/embedded" && env -u DATABASE_URL -u S3_COACH_VIDEOS_BUCKET -u S3_ENDPOINT_URL \
    CHUNK_SECONDS=3 "$crease" analyze "$tmp/clip.mp4" --out r.json 2>"$tmp/analyze.err"); st=$?
[ $st -eq 0 ] && echo "$out" | grep -q "frames: 80" && [ -f "$tmp/embedded/r.json" ] &&
    [ -f "$tmp/embedded/crease-data/crease.db" ] && ok "analyze (embedded)" || bad "analyze: $st $out"
# progress, not on a terminal: plain lines, counts that never go back, ending at 3/3
# (8 s in chunks of 3 s), then the merge
counts=$(sed -n 's|^progress: \([0-9]*\)/3 chunks, .* elapsed, ETA .*$|\1|p' "$tmp/analyze.err" | tr '\n' ' ')
[ "$(echo "$counts" | tr ' ' '\n' | grep -v '^$' | sort -n | tr '\n' ' ')" = "$counts" ] &&
    [ "${counts% }" != "" ] && [ "$(echo $counts | awk '{print $NF}')" = 3 ] &&
    [ "$(grep -c '^progress: ' "$tmp/analyze.err")" = "$(echo $counts | wc -w)" ] &&
    ! grep -q "$(printf '\r')" "$tmp/analyze.err" && grep -q "^analyzing: merging 3 chunks" "$tmp/analyze.err" &&
    ok "analyze progress lines: $counts" || bad "analyze progress: $(cat "$tmp/analyze.err")"
# on a terminal (script(1) gives it one): a bar redrawn in place, ending full
mkdir "$tmp/tty"
(cd "$tmp/tty" && env -u DATABASE_URL -u S3_COACH_VIDEOS_BUCKET -u S3_ENDPOINT_URL CHUNK_SECONDS=3 \
    script -qec "'$crease' analyze '$tmp/clip.mp4'" /dev/null >"$tmp/tty.out" 2>&1); st=$?
[ $st -eq 0 ] && grep -q "$(printf '\r')analyzing \[########################\] 3/3 chunks" "$tmp/tty.out" &&
    ! grep -q "^progress: " "$tmp/tty.out" && grep -q "frames: 80" "$tmp/tty.out" &&
    ok "analyze progress bar on a terminal" || bad "analyze on a terminal: $st $(cat -v "$tmp/tty.out")"
# --no-progress: the workers' log lines instead
(cd "$tmp/tty" && env -u DATABASE_URL -u S3_COACH_VIDEOS_BUCKET -u S3_ENDPOINT_URL CHUNK_SECONDS=3 \
    "$crease" analyze --no-progress "$tmp/clip.mp4" >/dev/null 2>"$tmp/quiet.err"); st=$?
[ $st -eq 0 ] && [ "$(grep -c ' chunk.completed ' "$tmp/quiet.err")" = 3 ] &&
    ! grep -q -e '^progress' -e '^analyzing' "$tmp/quiet.err" && ! grep -q ' chunk.completed ' "$tmp/analyze.err" &&
    ok "analyze --no-progress" || bad "analyze --no-progress: $st $(cat "$tmp/quiet.err")"
# the video was linked into the local folder, not copied: the clip has a second name there
[ "$(stat -c %h "$tmp/clip.mp4")" -ge 2 ] &&
    [ -n "$(find "$tmp/embedded/crease-data/blobs" -name original.mp4 -samefile "$tmp/clip.mp4")" ] &&
    ok "analyze links the video" || bad "analyze: the video was not linked ($(stat -c %h "$tmp/clip.mp4") names)"
err=$(cd "$tmp/embedded" && env -u DATABASE_URL -u S3_COACH_VIDEOS_BUCKET "$crease" analyze "$tmp/junk.mp4" 2>&1 >/dev/null); st=$?
[ $st -eq 1 ] && echo "$err" | grep -q "junk.mp4" && ok "analyze junk: $err" || bad "analyze junk: $st $err"

[ $fail -eq 0 ] && echo "all passed" || echo "some failed"
exit $fail
