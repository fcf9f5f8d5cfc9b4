#!/bin/sh
# video_cli.sh CREASE MEDIA_DIR -- `crease probe`, `crease chunks`, `crease frames`.
set -u
crease=$1
m=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # DESCRIPTION COMMAND...
    d=$1
    shift
    if ! "$@"; then
        echo "FAIL: $d" >&2
        fail=1
    fi
}
has() { # FILE TEXT
    grep -q -F -- "$2" "$1" || { echo "'$2' not in:" >&2; cat "$1" >&2; return 1; }
}
status() { # WANT COMMAND... (output to $tmp/out, $tmp/err)
    want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$want" ] || { echo "exit $got, want $want: $*" >&2; cat "$tmp/err" >&2; return 1; }
}

for c in probe chunks frames; do
    check "$c --help" status 0 "$crease" $c --help
    check "$c usage" has "$tmp/out" "usage: crease $c"
    check "$c no args" status 2 "$crease" $c
done
check "frames bad fps" status 2 "$crease" frames "$m/cfr25.mp4" --fps 0
check "frames end<start" status 2 "$crease" frames "$m/cfr25.mp4" --start 3 --end 2
check "chunks bad len" status 2 "$crease" chunks "$m/cfr25.mp4" --chunk-seconds 0

check "probe vtest" status 0 "$crease" probe media/vtest.avi
check "probe json" has "$tmp/out" '{"duration_seconds":79.500000,"fps":10.000000,"variable_frame_rate":false,"width":768,"height":576,"rotation":0,"codec":"msmpeg4v3"}'
check "probe vfr" status 0 "$crease" probe "$m/vfr.mp4"
check "probe vfr json" has "$tmp/out" '"variable_frame_rate":true'
check "probe rotated" status 0 "$crease" probe "$m/rot270tag.mp4"
check "probe rotated json" has "$tmp/out" '"rotation":90'

check "chunks vtest" status 0 "$crease" chunks media/vtest.avi
check "chunks json" has "$tmp/out" '[{"index":0,"start_sec":0.000000,"end_sec":30.000000},{"index":1,"start_sec":30.000000,"end_sec":60.000000},{"index":2,"start_sec":60.000000,"end_sec":79.500000}]'
check "chunks env" status 0 env CHUNK_SECONDS=50 "$crease" chunks media/vtest.avi
check "chunks env json" has "$tmp/out" '{"index":1,"start_sec":50.000000,"end_sec":79.500000}]'
check "chunks option" status 0 "$crease" chunks "$m/cfr25.mp4" --chunk-seconds 3
check "chunks option json" has "$tmp/out" '{"index":1,"start_sec":3.000000,"end_sec":4.000000}]'

check "frames vtest chunk" status 0 "$crease" frames media/vtest.avi --start 60 --end 61 --max-width 320
check "frames lines" test "$(wc -l < "$tmp/out")" = 10
check "frames first" has "$tmp/out" '{"k":600,"t":60.000000,'
check "frames size" has "$tmp/out" '"width":320,"height":240}'
# the summary: a chunk near the end reads much less than the file
check "frames summary" has "$tmp/err" '"frames":10,'
br=$(sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p' "$tmp/err")
fb=$(sed -n 's/.*"file_bytes":\([0-9]*\).*/\1/p' "$tmp/err")
check "bytes read < file / 4 ($br of $fb)" test "$br" -lt $((fb / 4))

check "frames fps env" status 0 env SAMPLE_FPS=2 MAX_WIDTH=80 "$crease" frames "$m/cfr30.mp4"
check "frames fps env lines" test "$(wc -l < "$tmp/out")" = 8
check "frames fps env size" has "$tmp/out" '"width":80,"height":60}'

check "frames dump" status 0 "$crease" frames media/messi5.jpg --dump "$tmp/dump"
check "frames dump line" has "$tmp/out" '{"k":0,"t":0.000000,"pts":0.000000,"width":548,"height":342}'
check "dump png" test -s "$tmp/dump/frame_000000.png"
check "dump png is png" sh -c "head -c 8 '$tmp/dump/frame_000000.png' | grep -q PNG"

for bad in audio.m4a unsupported.avi absurd.y4m noframes.y4m truncated_nomoov.mp4; do
    check "probe $bad fails" status 1 "$crease" probe "$m/$bad"
    check "probe $bad says why" has "$tmp/err" "crease probe: $m/$bad:"
done
check "frames truncated" status 1 "$crease" frames "$m/truncated_fast.mp4"
check "frames truncated says why" has "$tmp/err" "truncated"
check "probe missing" status 1 "$crease" probe "$tmp/nope.mp4"

exit $fail
