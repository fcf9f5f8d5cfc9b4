#!/bin/sh
# web_page.sh CREASE REPO local|s3 -- the coach's web page (GET /) in headless Chromium
# against a real `crease serve`: web_page.js says what it checks.  Skipped (77) only
# when node or Chromium is absent; screenshots go to $CREASE_WEB_SCREENSHOTS (default:
# web-screenshots-SHAPE in the working folder, the build tree's).
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
shape=${3:-local}
chromium=${CREASE_CHROMIUM:-/usr/bin/chromium}
skip() {
    echo "skip: $1"
    exit 77
}
command -v node >/dev/null 2>&1 || skip "no node (apt-get install nodejs, or scripts/deps --test)"
[ -x "$chromium" ] || skip "no Chromium at $chromium (scripts/deps --test installs it)"
command -v ffmpeg >/dev/null 2>&1 || { echo "FAIL: no ffmpeg (scripts/deps)"; exit 1; }
[ -d "$repo/tests/node/node_modules/playwright-core" ] ||
    { echo "FAIL: no playwright-core: (cd tests/node && npm ci)"; exit 1; }
[ -f "$repo/models/pose_landmark_full.tflite" ] || { echo "FAIL: no models: scripts/fetch-models"; exit 1; }
[ -f "$repo/media/cold_water.jpg" ] || { echo "FAIL: no media: scripts/fetch-media"; exit 1; }
shots=${CREASE_WEB_SCREENSHOTS:-$PWD/web-screenshots-$shape}
mkdir -p "$shots" || exit 1
CREASE_CHROMIUM=$chromium exec node "$repo/src/api/tests/web_page.js" "$crease" "$repo" "$shape" "$shots"
