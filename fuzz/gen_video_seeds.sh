#!/bin/sh
# gen_video_seeds.sh [OUTDIR] -- tiny media files, the seeds of fuzz_video, made with the
# ffmpeg CLI.  Each seed is one options byte (fuzz_video.c explains its bits) followed
# by the file (so the names end in _mp4, _png, ... rather than an extension).  Clips
# are a few frames of 12-32 pixels: a few KB each.
set -eu
out=${1:-$(dirname "$0")/corpus/video}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff="ffmpeg -nostdin -hide_banner -v error -y"
src="testsrc2=s=32x24:r=10:d=1"
# seed NAME OPTIONS-BYTE(octal) FILE
seed() {
    { printf "\\$2"; cat "$3"; } > "$out/$1"
}
$ff -f lavfi -i "$src" -c:v libx264 -preset veryfast -bf 2 -g 4 -pix_fmt yuv420p \
    -movflags +faststart "$tmp/h264.mp4"
seed h264_bframes_mp4 000 "$tmp/h264.mp4"
seed h264_bframes_short_reads_mp4 121 "$tmp/h264.mp4"
seed h264_bframes_from_half_mp4 264 "$tmp/h264.mp4"
$ff -i "$tmp/h264.mp4" -c copy -metadata:s:v rotate=90 "$tmp/rot90.mp4"
seed h264_rot90_mp4 020 "$tmp/rot90.mp4"
$ff -i "$tmp/h264.mp4" -c copy -f mpegts "$tmp/h264.ts"
seed h264_ts 060 "$tmp/h264.ts"
$ff -i "$tmp/h264.mp4" -c copy -bsf:v h264_mp4toannexb -f h264 "$tmp/h264.264"
seed h264_annexb_264 003 "$tmp/h264.264"
$ff -f lavfi -i "testsrc2=s=24x16:r=5:d=1" -c:v mpeg4 "$tmp/mpeg4.avi"
seed mpeg4_avi 110 "$tmp/mpeg4.avi"
$ff -f lavfi -i "testsrc2=s=16x16:r=5:d=0.6" -pix_fmt yuv420p -f yuv4mpegpipe "$tmp/raw.y4m"
seed raw_y4m 045 "$tmp/raw.y4m"
$ff -f lavfi -i "testsrc2=s=16x16:r=5:d=0.6" -c:v mjpeg -q:v 20 -f matroska "$tmp/mjpeg.mkv"
seed mjpeg_mkv 002 "$tmp/mjpeg.mkv"
$ff -f lavfi -i "testsrc2=s=12x10:r=1:d=1" -frames:v 1 "$tmp/still.png"
seed still_png 020 "$tmp/still.png"
$ff -f lavfi -i "testsrc2=s=16x12:r=1:d=1" -frames:v 1 -q:v 20 "$tmp/still.jpg"
seed still_jpg 000 "$tmp/still.jpg"
ls -l "$out"
