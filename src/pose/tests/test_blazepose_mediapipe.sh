#!/bin/sh
# test_blazepose_mediapipe.sh COMPARE_BIN FRAMES_DIR WORK_DIR -- crease against MediaPipe.
# For each frame set (FRAMES_DIR/motion, FRAMES_DIR/vtest): MediaPipe's landmarks in video
# and static mode (tests/mediapipe/mediapipe_pose.js in headless Chromium), then
# COMPARE_BIN (test_blazepose_mediapipe) checks crease against them.  Without node, the
# browser or the MediaPipe package the test is skipped (77), or fails when
# CREASE_TEST_REQUIRE_SERVICES=1 (CI).  With CREASE_MEDIAPIPE_REF_CACHE=DIR, MediaPipe's
# outputs are kept in DIR by the hash of all their inputs and not computed again for the same
# ones (scripts/test gives both of its passes one such folder for the run).
set -u
bin=$1
frames=$2
work=$3
skip() {
    echo "test_blazepose_mediapipe: $*" >&2
    if [ "${CREASE_TEST_REQUIRE_SERVICES:-0}" = 1 ]; then exit 1; fi
    exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed"
[ -x "${CREASE_CHROMIUM:-/usr/bin/chromium}" ] || skip "no Chromium at /usr/bin/chromium"
[ -d tests/node/node_modules/playwright-core ] || skip "tests/node/node_modules lacks playwright-core (npm ci in tests/node)"
mkdir -p "$work"
# One browser session for all four runs (two frame sets x two modes).
jobs=""
for set in motion vtest; do
    for mode in video static; do
        jobs="$jobs --job $frames/$set $work/mp_${set}_$mode.json $mode"
    done
done
# shellcheck disable=SC2086 # the job list is split on purpose (paths have no spaces)
node tests/mediapipe/mediapipe_pose.js $jobs ${CREASE_MEDIAPIPE_REF_CACHE:+--cache "$CREASE_MEDIAPIPE_REF_CACHE"}
rc=$?
[ $rc = 3 ] && skip "MediaPipe reference unavailable (see above)"
[ $rc = 0 ] || { echo "mediapipe_pose.js failed ($rc)" >&2; exit 1; }
status=0
for set in motion vtest; do
    echo "== $set" >&2
    "$bin" "$frames/$set" "$work/mp_${set}_video.json" "$work/mp_${set}_static.json" || status=1
done
exit $status
