#!/bin/sh
# cli_options.sh CREASE -- usage errors of every command: each exits 2, prints
# nothing on stdout and exactly one line on stderr (the line is checked in full),
# before any work is done.  Numbers: range ends, negative, empty, trailing junk,
# overflow.
set -u
crease=$1
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DATABASE_URL="sqlite:///$tmp/never.db" CREASE_BLOB_DIR="$tmp/blobs"
unset S3_COACH_VIDEOS_BUCKET
export APP_SECRET_KEY=cli-options-secret

usage_error() { # LINE ARGS...: `crease ARGS` exits 2 with LINE alone on stderr
    want=$1
    shift
    "$crease" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    got=$(cat "$tmp/err")
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 2 ] || [ -s "$tmp/out" ] || [ "$lines" -ne 1 ] || [ "$got" != "$want" ]; then
        echo "FAIL: crease $* -> exit $rc, $lines line(s):" >&2
        cat "$tmp/err" "$tmp/out" >&2
        echo "  want: $want" >&2
        fail=1
    fi
}

usage_error "crease: unknown command 'nonsense' (see crease --help)" nonsense
usage_error "crease config: unexpected argument 'x'" config x

# integers
m="crease chunks: --chunk-seconds must be an integer >= 1"
for v in 0 -1 "" 5x 1.5 99999999999999999999 1000000001; do
    usage_error "$m" chunks --chunk-seconds "$v" x.mp4
done
for v in 0 65 -1 "" 2x 99999999999999999999; do
    usage_error "crease pose: --threads must be 1..64, got '$v'" pose x.jpg --threads "$v"
    usage_error "crease pose: --threads must be 1..64, got '$v'" pose x.jpg "--threads=$v"
done
for v in 0 -5 "" 60s 604801 99999999999999999999; do
    usage_error "crease blob presign: --expires needs 1..604800 seconds" blob presign k \
        --expires "$v"
done
usage_error "crease blob presign: --expires needs 1..604800 seconds" blob presign k --expires
for v in x -1 "" 1000001 3y; do
    usage_error "crease migrate: bad number '$v'" migrate up "$v"
done
for v in 65536 -1 "" 80x 99999999999999999999; do
    usage_error "crease serve: --port must be an integer from 0 to 65535, got '$v'" serve \
        --port "$v"
done
usage_error "crease serve: --workers must be an integer from 0 to 256, got '257'" serve \
    --workers 257
usage_error "crease token: --ttl must be an integer from 0 to 315360000, got '-1'" token \
    --sub c --ttl -1

# numbers
for v in 0 257 -2 "" 4x 1e999 nan; do
    usage_error "crease analyze: --workers must be a number from 1 to 256, got '$v'" analyze \
        --workers "$v" x.mp4
done
usage_error "crease chunk-worker: --poll must be a number from 0.01 to 3600, got '0'" \
    chunk-worker --poll 0
usage_error "crease analysis-worker: --lease must be a number from 1 to 86400, got 'long'" \
    analysis-worker --lease long
usage_error "crease chunk-worker: --threads must be a number from 1 to 64, got '65'" \
    chunk-worker --threads=65

# options
usage_error "crease pose: --model needs a value" pose x.jpg --model
usage_error "crease pose: unknown option '--fast'" pose x.jpg --fast
usage_error "crease pose: unexpected argument 'y.jpg'" pose x.jpg y.jpg
usage_error "crease blob put: unknown option '--force'" blob put --force a b
usage_error "crease blob get: too many arguments" blob get a b c
usage_error "crease analyze: unknown option '--fast' (see crease analyze --help)" analyze \
    --fast x.mp4
usage_error "crease submit: --mode must be batting, bowling, wicketkeeping or fielding" \
    submit --mode golf x.mp4
usage_error "crease chunk-worker: unexpected argument 'x'" chunk-worker x
usage_error "crease serve: unexpected argument 'x'" serve x

[ $fail -eq 0 ] && echo "cli_options: ok"
exit $fail
