#!/bin/sh
# layers.sh SRC -- the modules under SRC form layers, and no file of a module includes
# a module of its own layer or a higher one:
#
#   cli                              the `crease` binary: commands and their options
#    |
#   api                              HTTP API and tokens
#    |
#   pipeline                         chunk and analysis workers, submission
#    |
#   analysis                         metrics, findings, the coach's report
#    |
#   pose                             BlazePose on the engine
#    |
#   video   engine   store   blob    FFmpeg, inference, job queue, blob store
#    |
#   core                             status, allocation, logging, configuration
#
# Reads every `#include "mod/..."` of SRC/<mod>/*.c and *.h (tests/ excluded), prints
# "file:line: ..." for each include that breaks the order and exits 1 if there is any.
# A folder of SRC that is not in the list above fails too: a new module needs a layer.
set -u
src=${1:-src}
fail=0
for d in "$src"/*/; do
    [ -d "$d" ] || continue
    set -- "$d"*.c "$d"*.h
    files=""
    for f in "$@"; do
        [ -f "$f" ] && files="$files $f"
    done
    [ -n "$files" ] || continue
    # shellcheck disable=SC2086 # one word per file, no spaces in our paths
    awk '
    BEGIN {
        n = split("core:0 video:1 engine:1 store:1 blob:1 pose:2 analysis:3 " \
                  "pipeline:4 api:5 cli:6", pairs, " ")
        for (i = 1; i <= n; i++) {
            split(pairs[i], kv, ":")
            layer[kv[1]] = kv[2]
        }
    }
    FNR == 1 {
        k = split(FILENAME, part, "/")
        mod = part[k - 1]
        if (!(mod in layer)) {
            print FILENAME ": module " mod " has no layer in tests/layers.sh"
            bad = 1
        }
    }
    /^[ \t]*#[ \t]*include[ \t]*"[A-Za-z0-9_]+\// {
        match($0, /"[A-Za-z0-9_]+\//)
        dep = substr($0, RSTART + 1, RLENGTH - 2)
        match($0, /"[^"]*"/)
        inc = substr($0, RSTART, RLENGTH)
        if (!(mod in layer) || dep == mod)
            next
        if (!(dep in layer)) {
            print FILENAME ":" FNR ": includes " inc ": " dep " is not a module"
            bad = 1
        } else if (layer[dep] > layer[mod]) {
            print FILENAME ":" FNR ": includes " inc ": " dep " is in a higher layer than " mod
            bad = 1
        } else if (layer[dep] == layer[mod]) {
            print FILENAME ":" FNR ": includes " inc ": " dep " is in the same layer as " mod
            bad = 1
        }
    }
    END { exit bad }
    ' $files || fail=1
done
if [ "$fail" -ne 0 ]; then
    echo "layers: includes out of layer order (see the picture at the top of $0)" >&2
    exit 1
fi
echo "layers: ok"
