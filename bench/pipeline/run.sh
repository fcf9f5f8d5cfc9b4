#!/usr/bin/env bash
# bench/pipeline/run.sh [BUILD_DIR] -- the headline target of DESIGN.md §9:
# `crease analyze` of the 15-minute 1080p30 reference workload (bench/reference-workload)
# on this machine, against `ffmpeg -i FILE -f null -` (decode everything) of the same
# file, in the same run.  Target: analyze <= 1.2 x decode.
#
# analyze runs the embedded default (SQLite + local folder in a temporary directory),
# CHUNK_SECONDS=30, SAMPLE_FPS=10, MAX_WIDTH=640, one chunk worker thread per core,
# xnnpack engine with one thread per worker, full model.  Its time includes storing
# the video, probing, chunking, pose estimation on every chunk and the merge.
# Reports wall and CPU (user+sys) seconds of both and their ratios, and the load
# average before and after (the machine may be shared: say so with the figures).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
crease=$(realpath "$build/crease")
[ -x "$crease" ] || { echo "no $crease (scripts/build first)" >&2; exit 1; }
ref=$("$root/bench/reference-workload")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TIMEFORMAT='%R %U %S'
load0=$(cut -d' ' -f1-3 /proc/loadavg)

{ time ffmpeg -nostdin -hide_banner -v error -i "$ref" -f null - 2>/dev/null; } 2>"$tmp/t_decode"
{ time (cd "$tmp" && CREASE_MODELS_DIR="$root/models" LOG_LEVEL=warn CHUNK_SECONDS=30 \
    SAMPLE_FPS=10 MAX_WIDTH=640 "$crease" analyze "$ref" >"$tmp/out.txt"); } 2>"$tmp/t_analyze"

read -r dw du ds <"$tmp/t_decode"
read -r aw au as <"$tmp/t_analyze"
cat "$tmp/out.txt"
awk -v dw="$dw" -v du="$du" -v ds="$ds" -v aw="$aw" -v au="$au" -v as="$as" \
    -v l0="$load0" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" -v cpus="$(nproc)" 'BEGIN {
    printf "cpus %d, load before %s, after %s\n", cpus, l0, l1
    printf "ffmpeg -f null : wall %7.1f s  cpu %7.1f s\n", dw, du + ds
    printf "crease analyze : wall %7.1f s  cpu %7.1f s\n", aw, au + as
    printf "ratio          : wall %.2f  cpu %.2f  (target wall <= 1.2)\n", aw / dw, (au + as) / (du + ds)
}'
