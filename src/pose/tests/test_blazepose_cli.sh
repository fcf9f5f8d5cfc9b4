#!/bin/sh
# test_blazepose_cli.sh CREASE WORK_DIR MOTION_DIR -- `crease pose` end to end: usage
# errors, an image with a PNG overlay and JSON, a short video with an MP4 overlay.
set -u
crease=$1
work=$2
motion=$3
fail=0
check() { # check DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then :; else
        echo "FAIL: $d" >&2
        fail=1
    fi
}
rc() { "$@" >/dev/null 2>&1; echo $?; }
mkdir -p "$work"
rm -f "$work"/*

check "--help exits 0" [ "$(rc "$crease" pose --help)" = 0 ]
"$crease" pose --help | grep -q "usage: crease pose INPUT" || { echo "FAIL: usage text" >&2; fail=1; }
check "no input: usage error" [ "$(rc "$crease" pose)" = 2 ]
check "bad model: usage error" [ "$(rc "$crease" pose media/cold_water.jpg --model huge)" = 2 ]
check "bad engine: usage error" [ "$(rc "$crease" pose media/cold_water.jpg --engine nope)" = 2 ]
check "bad overlay name: usage error" [ "$(rc "$crease" pose media/cold_water.jpg --overlay o.gif)" = 2 ]
check "bad threads: usage error" [ "$(rc "$crease" pose media/cold_water.jpg --threads 0)" = 2 ]
check "missing file: failure" [ "$(rc "$crease" pose "$work/none.jpg")" = 1 ]
check "mp4 overlay of an image: failure" [ "$(rc "$crease" pose media/cold_water.jpg --overlay "$work/x.mp4")" = 1 ]
printf 'not an image' >"$work/bad.jpg"
check "not an image: failure" [ "$(rc "$crease" pose "$work/bad.jpg")" = 1 ]

# An image, on the reference engine: JSON and a PNG overlay.
check "image run" "$crease" pose media/cold_water.jpg --engine ref --out "$work/cw.json" \
    --overlay "$work/cw.png"
j=$work/cw.json
check "json: one pose, detected" [ "$(grep -c '"detected": true' "$j")" = 1 ]
check "json: still image, static mode" grep -q '"mode": "static"' "$j"
check "json: 33 landmarks + 33 keypoints + 33 world" [ "$(grep -c '"visibility"' "$j")" = 99 ]
for k in frame_num timestamp_ms frame_index world_landmarks keypoints nose left_heel \
    right_foot_index; do
    check "json has $k" grep -q "\"$k\"" "$j"
done
check "png overlay written" [ "$(head -c 8 "$work/cw.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]

# A video (the known-motion frames as a 3 s MP4): tracking, MP4 overlay.
ffmpeg -nostdin -v error -y -framerate 10 -i "$motion/%04d.png" -c:v libx264 -pix_fmt yuv420p \
    "$work/clip.mp4" || ffmpeg -nostdin -v error -y -framerate 10 -i "$motion/%04d.png" \
    -c:v mpeg4 -q:v 3 "$work/clip.mp4"
check "video run" env SAMPLE_FPS=10 "$crease" pose "$work/clip.mp4" --out "$work/clip.json" \
    --overlay "$work/clip_pose.mp4"
check "video json: 30 poses, all detected" [ "$(grep -c '"detected": true' "$work/clip.json")" = 30 ]
check "video json: video mode" grep -q '"mode": "video"' "$work/clip.json"
check "video json: detector ran once" grep -q '"detector_runs": 1,' "$work/clip.json"
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$work/clip_pose.mp4")
check "mp4 overlay has 30 frames (got $n)" [ "$n" = 30 ]
# --static on a video: the detector on every frame.
check "static video run" env SAMPLE_FPS=5 "$crease" pose "$work/clip.mp4" --static \
    --out "$work/clip_static.json"
check "static video: 15 frames, 15 detector runs" grep -q '"detector_runs": 15,' "$work/clip_static.json"

[ $fail = 0 ] && echo "test_blazepose_cli: ok" >&2
exit $fail
