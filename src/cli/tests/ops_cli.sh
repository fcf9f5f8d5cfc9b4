#!/bin/sh
# ops_cli.sh CREASE REPO -- the runbook's commands as an operator runs them (SQLite):
# a chunked job queued with no chunk worker running -> `crease jobs stuck` names its
# waiting chunks -> `crease gpu-mode off` turns it whole-video -> `crease jobs stuck`
# names it ready and not aggregated -> an analysis worker does the whole video: done.
# Bad usage exits 2.
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
tmp=$(mktemp -d /tmp/crease-ops-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export DATABASE_URL="sqlite:///$tmp/crease.db" CREASE_BLOB_DIR="$tmp/blobs" CHUNK_SECONDS=1
export CREASE_MODELS_DIR=$repo/models MAX_WIDTH=320
unset S3_COACH_VIDEOS_BUCKET GPU_PROCESSING_ENABLED

"$crease" gpu-mode sideways >/dev/null 2>&1; [ $? -eq 2 ] || bad "gpu-mode sideways: not 2"
"$crease" gpu-mode on off >/dev/null 2>&1; [ $? -eq 2 ] || bad "gpu-mode on off: not 2"
"$crease" gpu-mode --help | grep -q "usage: crease gpu-mode" || bad "gpu-mode --help"

ffmpeg -nostdin -v error -y -loop 1 -i "$repo/media/cold_water.jpg" -t 3 -r 10 -vf scale=320:-2 \
    -pix_fmt yuv420p -c:v libx264 "$tmp/clip.mp4" || { bad "ffmpeg"; exit 1; }
"$crease" migrate up >/dev/null || bad "migrate"
"$crease" jobs stuck --older-than x >/dev/null 2>&1; [ $? -eq 2 ] || bad "jobs stuck --older-than x"
"$crease" jobs stuck --bogus >/dev/null 2>&1; [ $? -eq 2 ] || bad "jobs stuck --bogus"
ok "usage errors exit 2"
out=$("$crease" jobs stuck)
echo "$out" | tail -n1 | grep -q "^0 chunk(s) and 0 job(s) need attention" && ok "nothing stuck on an empty queue" ||
    bad "empty: $out"
job=$("$crease" submit --mode batting "$tmp/clip.mp4" | sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p')
[ -n "$job" ] || bad "submit"

out=$("$crease" jobs stuck --older-than 0)
[ "$(echo "$out" | grep -c "^$job .*waiting: no chunk worker")" -eq 3 ] &&
    echo "$out" | tail -n1 | grep -q "^3 chunk(s) and 0 job(s)" &&
    ok "jobs stuck: the 3 chunks nobody claims" || bad "stuck chunks: $out"
out=$("$crease" jobs stuck)
echo "$out" | tail -n1 | grep -q "^0 chunk(s)" && ok "jobs stuck: not yet past the default 300 s" ||
    bad "default limit: $out"

out=$("$crease" gpu-mode)
echo "$out" | grep -q "unfinished jobs: 1 chunked (gpu), 0 whole-video (cpu)" &&
    echo "$out" | grep -q "GPU_PROCESSING_ENABLED=false" && ok "gpu-mode status" || bad "status: $out"
out=$("$crease" gpu-mode off)
echo "$out" | grep -q "0 job(s) awaiting upload and 1 queued job(s) now whole-video" &&
    echo "$out" | grep -q "unfinished jobs: 0 chunked (gpu), 1 whole-video (cpu)" &&
    ok "gpu-mode off: the queued job is whole-video" || bad "off: $out"
show=$("$crease" jobs show "$job")
echo "$show" | grep -q "^mode *cpu" && echo "$show" | grep -q "^chunks *0 of 0" &&
    ok "the job: mode cpu, no chunks" || bad "show: $show"
out=$("$crease" jobs stuck --older-than 0)
echo "$out" | grep "^$job" | grep -q "ready, not aggregated" && echo "$out" | tail -n1 | grep -q "^0 chunk(s) and 1 job(s)" &&
    ok "jobs stuck: the job ready, no analysis worker" || bad "stuck job: $out"

"$crease" analysis-worker --idle-exit --poll 0.1 2>"$tmp/aw.log" || bad "analysis worker: $(cat "$tmp/aw.log")"
"$crease" jobs show "$job" | grep -q "^status *done" && ok "the analysis worker did the whole video: done" ||
    bad "after: $("$crease" jobs show "$job")"

[ $fail -eq 0 ] && echo "all passed" || echo "some failed"
exit $fail
