#!/usr/bin/env bash
# bench/pipeline/run.sh [BUILD_DIR] [low|phone|both] -- the headline target of DESIGN.md §9:
# `crease analyze` of a 15-minute 1080p30 reference workload (bench/reference-workload: the
# low-bitrate one and the phone-like one) on this machine, against `ffmpeg -i FILE -f null -`
# (decode everything) of the same file, in the same run.  Targets: analyze <= 1.2 x decode
# on the low-bitrate workload, <= 1.0 x on the phone-like one.
#
# analyze runs the embedded default (SQLite + local folder in a temporary directory),
# CHUNK_SECONDS=30, SAMPLE_FPS=10, MAX_WIDTH=640, one chunk worker thread per core, the
# default engine (ENGINE=name: `--engine name`) with one thread per worker, full model;
# CREASE_SKIP_DEBLOCK passes through (unset: the default).  Its time includes storing the
# video, probing, chunking, pose estimation on every chunk and the merge.  Reports wall and
# CPU (user+sys) seconds of both, their ratios, analyze's peak RSS, and the load average
# before and after (the machine may be shared: say so with the figures).  Then the landmark
# model's ms/frame by engine and batch size (bench_pose_engine, one thread).
#
# RUNS=N (default 1) repeats each workload N times, ffmpeg then crease each time, and ends
# with the median of the N wall ratios: on a shared machine a neighbour slows crease, which
# keeps every core busy, more than ffmpeg, which keeps ~1.7 of 2 busy, so one pair can be
# 10 % off.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
which=${2:-both}
crease=$(realpath "$build/crease")
[ -x "$crease" ] || { echo "no $crease (scripts/build first)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TIMEFORMAT='%R %U %S'

runs=${RUNS:-1}
case "$runs" in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer" >&2; exit 2 ;; esac

run_one() { # KIND
    local kind=$1 ref i
    ref=$("$root/bench/reference-workload" "$kind")
    : >"$tmp/ratios"
    for i in $(seq 1 "$runs"); do
        [ "$runs" = 1 ] || echo "-- $kind: run $i of $runs"
        run_pair "$kind" "$ref"
    done
    if [ "$runs" != 1 ]; then
        sort -n "$tmp/ratios" | awk -v kind="$kind" '{ r[NR] = $1 } END {
            m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
            printf "== %s: median wall ratio %.2f over %d runs (min %.2f, max %.2f)\n", kind, m, NR, r[1], r[NR]
        }'
    fi
}

run_pair() { # KIND FILE: ffmpeg then crease, once
    local kind=$1 ref=$2
    local load0
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    { time ffmpeg -nostdin -hide_banner -v error -i "$ref" -f null - 2>/dev/null; } 2>"$tmp/t_decode"
    rm -rf "$tmp/work" && mkdir "$tmp/work"
    # crease's own messages go to log.txt (shown below): t_analyze holds the timing alone
    { time (cd "$tmp/work" && CREASE_MODELS_DIR="$root/models" LOG_LEVEL=warn CHUNK_SECONDS=30 \
        SAMPLE_FPS=10 MAX_WIDTH=640 /usr/bin/time -f '%M' -o "$tmp/rss" \
        "$crease" analyze --no-progress ${ENGINE:+--engine "$ENGINE"} "$ref" >"$tmp/out.txt" \
        2>"$tmp/log.txt"); } 2>"$tmp/t_analyze"
    local dw du ds aw au as
    read -r dw du ds <"$tmp/t_decode"
    read -r aw au as <"$tmp/t_analyze"
    echo "== $kind: $ref (engine ${ENGINE:-default}, skip deblock ${CREASE_SKIP_DEBLOCK:-none})"
    head -3 "$tmp/out.txt"
    sed 's/^/crease: /' "$tmp/log.txt"
    awk -v dw="$dw" -v du="$du" -v ds="$ds" -v aw="$aw" -v au="$au" -v as="$as" \
        -v rss="$(tail -1 "$tmp/rss")" -v target="$([ "$kind" = phone ] && echo 1.0 || echo 1.2)" \
        -v l0="$load0" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" -v cpus="$(nproc)" 'BEGIN {
        printf "cpus %d, load before %s, after %s\n", cpus, l0, l1
        printf "ffmpeg -f null : wall %7.1f s  cpu %7.1f s\n", dw, du + ds
        printf "crease analyze : wall %7.1f s  cpu %7.1f s  peak RSS %.0f MB\n", aw, au + as, rss / 1024
        printf "ratio          : wall %.2f  cpu %.2f  (target wall <= %s)\n", aw / dw, (au + as) / (du + ds), target
    }'
    awk -v dw="$dw" -v aw="$aw" 'BEGIN { printf "%.4f\n", aw / dw }' >>"$tmp/ratios"
}

case "$which" in
low | phone) run_one "$which" ;;
both) run_one low && run_one phone ;;
*) echo "usage: [RUNS=N] bench/pipeline/run.sh [BUILD_DIR] [low|phone|both]" >&2; exit 2 ;;
esac

bench="$build/bench/pose_engine/bench_pose_engine"
if [ -x "$bench" ]; then
    echo "== landmark model (full, the pipeline's outputs), ms/frame by engine and batch, 1 thread"
    for e in $("$crease" pose --help 2>&1 | sed -n 's/.*--engine \([a-z0-9|-]*\).*/\1/p' | head -1 | tr '|' ' '); do
        [ "$e" = ref ] && continue
        # an engine compiled in but not usable here (cuda without a GPU) says so once
        if out=$(cd "$root" && "$bench" --engine "$e" --models full --threads 1 --batch 1,4 \
            --runs 30 --no-validate 2>&1); then
            echo "$out" | awk '$2 == "v2" || NR <= 2'
        else
            echo "engine $e: not usable here: $(echo "$out" | grep -m1 -i -e error -e "no " -e fail)"
        fi
    done
fi
