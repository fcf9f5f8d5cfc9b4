#!/bin/sh
# cuda_cli.sh CREASE REPO -- `--engine cuda` on a machine where no GPU can run it (CPU
# CI): `crease pose` and `crease chunk-worker` exit 1 at once with "no CUDA device" in
# their message.  Skipped (77) when the binary has no cuda engine, or when a GPU is
# there and `crease pose` runs (the no-device contract then does not apply).  Each
# command runs under `timeout 60`: a hang fails the test.
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
tmp=$(mktemp -d /tmp/crease-cudacli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export CREASE_MODELS_DIR=$repo/models

timeout 60 "$crease" pose "$repo/media/cold_water.jpg" --engine cuda --out "$tmp/p.json" \
    >"$tmp/pose.out" 2>"$tmp/pose.err"
rc=$?
if [ $rc = 2 ] && grep -q "not built in" "$tmp/pose.err"; then
    echo "skip: the cuda engine is not built in"
    exit 77
fi
if [ $rc = 0 ]; then
    echo "skip: a GPU ran crease pose --engine cuda (the no-device contract does not apply)"
    exit 77
fi
[ $rc = 1 ] && ok "crease pose --engine cuda exits 1" || bad "crease pose --engine cuda: exit $rc"
grep -q "no CUDA device" "$tmp/pose.err" && ok "pose: $(grep "no CUDA device" "$tmp/pose.err")" ||
    { bad "pose: no 'no CUDA device' in its message"; cat "$tmp/pose.err"; }

# A chunk worker on a local store loads its model (and engine) before claiming anything.
export DATABASE_URL="sqlite:///$tmp/crease.db" CREASE_BLOB_DIR="$tmp/blobs"
"$crease" migrate up >/dev/null 2>&1 || bad "crease migrate up"
timeout 60 "$crease" chunk-worker --engine cuda >"$tmp/worker.out" 2>"$tmp/worker.err"
rc=$?
[ $rc = 1 ] && ok "crease chunk-worker --engine cuda exits 1" ||
    bad "crease chunk-worker --engine cuda: exit $rc"
grep -q "no CUDA device" "$tmp/worker.err" &&
    ok "chunk-worker: $(grep "no CUDA device" "$tmp/worker.err" | head -1)" ||
    { bad "chunk-worker: no 'no CUDA device' in its message"; cat "$tmp/worker.err"; }
exit $fail
