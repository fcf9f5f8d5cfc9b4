#!/usr/bin/env bash
# bench/video/run.sh [BUILD_DIR] -- sampler vs. `ffmpeg -f null` on the reference workload.
#
# The reference workload (DESIGN.md §9, built by bench/reference-workload): a 15-minute 1080p30 H.264 video with one
# person in view, built once from a 60 s clip of media/cold_water.jpg animated
# (padded onto a 1920x1080 canvas and moved along a Lissajous path with `overlay`),
# concatenated 15 times by stream copy, and cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/crease/bench.  x264 preset medium, default GOP
# (keyint 250, B-frames 3 with b-pyramid), as a coach's laptop export would be.
#
# One run reports (sums over the rounds, see below):
#   decode_s   wall time of `ffmpeg -i FILE -f null -` (decodes every frame; FFmpeg's
#              automatic threads)
#   sample_s   wall time to sample all chunks (CHUNK_SECONDS=30) at 10 fps, width
#              <= 640, two chunks in parallel, one decoder thread each:
#              bench_video_sample's two worker threads, as long-lived chunk workers
#              run (default), or with CREASE_BENCH_MODE=processes one `crease frames`
#              process per chunk (adds ~55 ms of process start per chunk)
#   ratio      sample_s / decode_s.  Target: <= 0.8.  The same ratio of CPU
#              seconds (user + sys) is printed too: it is less disturbed by other
#              load on a shared machine.
# Also the sampler's totals: frames, packets decoded and skipped, bytes read.
# CREASE_BENCH_ROUNDS (default 2) rounds, ordered decode/sample, sample/decode, ...;
# the ratio is of the sums.  The machine is shared: expect noise of several percent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
crease=$build/crease
bench=$build/bench/video/bench_video_sample
mode=${CREASE_BENCH_MODE:-threads}
for b in "$crease" "$bench"; do
    [ -x "$b" ] || { echo "no $b (scripts/build first)" >&2; exit 1; }
done
ref=$("$root/bench/reference-workload")

echo "file: $ref ($(stat -c %s "$ref") bytes)"
"$crease" probe "$ref"
chunks=$("$crease" chunks "$ref" --chunk-seconds 30 |
    grep -o '"start_sec":[0-9.]*,"end_sec":[0-9.]*' | sed 's/"start_sec":\([0-9.]*\),"end_sec":\([0-9.]*\)/\1 \2/')
nchunks=$(echo "$chunks" | wc -l)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

load0=$(cut -d' ' -f1-3 /proc/loadavg)
calc() { awk "BEGIN {printf \"%.4f\", $1}"; }

# wall (real) and CPU (user + sys, children included) seconds of a command
TIMEFORMAT='%R %U %S'
timed() { # OUTFILE COMMAND...
    local out=$1
    shift
    { time "$@" 2>&3; } 3>&2 2>"$out"
}
decode_once() { # N: one `ffmpeg -f null` run into $tmp/t_decode_N
    timed "$tmp/t_decode_$1" ffmpeg -nostdin -hide_banner -v error -i "$ref" -f null -
}
run_chunk() {
    "$crease" frames "$ref" --start "$1" --end "$2" --fps 10 --max-width 640 --threads 1 \
        >"$tmp/frames_$1.jsonl" 2>"$tmp/summary_$1.json"
}
export -f run_chunk
export crease ref tmp
run_all() { echo "$chunks" | xargs -P 2 -L 1 bash -c 'run_chunk "$@"' _; }
run_bench() { "$bench" "$ref" --parallel 2 --chunk-seconds 30 --fps 10 --max-width 640 \
    >"$tmp/bench.json"; }
sample_once() { # N: sample every chunk into $tmp/t_sample_N
    local what=run_all
    [ "$mode" = processes ] || what=run_bench
    if ! timed "$tmp/t_sample_$1" $what; then
        echo "a chunk failed:" >&2
        cat "$tmp"/summary_*.json >&2
        exit 1
    fi
}
# Rounds in the order decode, sample, sample, decode, ... so that a change of the
# machine's load during the run weighs on both sides alike.
rounds=${CREASE_BENCH_ROUNDS:-2}
for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
        decode_once "$r"
        sample_once "$r"
    else
        sample_once "$r"
        decode_once "$r"
    fi
done
total() { # PREFIX FIELDS: sums field(s) over the rounds' timing files
    cat "$tmp/$1"_* | awk -v f="$2" '{ if (f == "w") s += $1; else s += $2 + $3 } END {printf "%.2f", s}'
}
decode=$(total t_decode w)
decode_cpu=$(total t_decode c)
sample=$(total t_sample w)
sample_cpu=$(total t_sample c)
per_round=$(for r in $(seq "$rounds"); do
    read -r dw _ _ <"$tmp/t_decode_$r"
    read -r sw _ _ <"$tmp/t_sample_$r"
    printf ' %s/%s=%s' "$sw" "$dw" "$(calc "$sw / $dw")"
done)

if [ "$mode" = processes ]; then
    sum() { cat "$tmp"/summary_*.json | grep -o "\"$1\":[0-9]*" | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}'; }
    frames=$(sum frames)
    lines=$(cat "$tmp"/frames_*.jsonl | wc -l)
    [ "$frames" = "$lines" ] || { echo "summary says $frames frames, output has $lines" >&2; exit 1; }
else
    sum() { grep -o "\"$1\":[0-9]*" "$tmp/bench.json" | cut -d: -f2; }
    frames=$(sum frames)
fi
fsize=$(stat -c %s "$ref")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "chunks: $nchunks x 30 s, 2 in parallel ($mode), 10 fps, max width 640"
echo "sampled frames: $frames"
echo "packets decoded: $(sum packets_decoded), skipped undecoded: $(sum packets_skipped)"
echo "bytes read: $(sum bytes_read) (file $fsize, $(calc "$(sum bytes_read) / $fsize")x)"
echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds: $rounds; wall ratio per round:$per_round"
printf 'decode_s %.2f (cpu %.2f)\nsample_s %.2f (cpu %.2f)  (sums over the rounds)\n' "$decode" \
    "$decode_cpu" "$sample" "$sample_cpu"
printf 'ratio %.3f wall (target <= 0.8), %.3f cpu\n' "$(calc "$sample / $decode")" \
    "$(calc "$sample_cpu / $decode_cpu")"
