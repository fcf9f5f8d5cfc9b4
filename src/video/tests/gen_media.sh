#!/bin/sh
# gen_media.sh OUTDIR MEDIADIR -- the video test media, generated with the ffmpeg CLI.
#
# Every clip shows its frame number n as 8 bits in a 4x2 grid of blocks (bit b at
# column b % 4, row b / 4; white = 1), so the tests can read back which source frame
# the sampler returned.  Clips are short and small so the tests stay fast.
set -eu
out=$1
media=$(cd "$2" && pwd)
mkdir -p "$out"
cd "$out"
ff="ffmpeg -nostdin -hide_banner -v error -y"
pat="geq=lum='if(mod(floor(N/pow(2,floor(X*4/W)+4*floor(Y*2/H))),2),235,16)':cb=128:cr=128"
src() { # SIZE RATE FRAMES
    echo "color=c=black:s=$1:r=$2,trim=end_frame=$3,format=yuv420p,$pat"
}
# x264 with B-frames (default 3, b-pyramid) and a short GOP: seeks and non-reference
# frames are exercised.
x264="-c:v libx264 -preset veryfast -bf 3 -g 12 -pix_fmt yuv420p"

$ff -f lavfi -i "$(src 160x120 25 100)" $x264 cfr25.mp4
$ff -f lavfi -i "$(src 160x120 30 120)" $x264 cfr30.mp4
$ff -f lavfi -i "$(src 160x120 30000/1001 120)" $x264 cfr2997.mp4
# A phone's encoder: no B-frames, an IDR frame every second (every frame is a reference).
$ff -f lavfi -i "$(src 160x120 30 120)" -c:v libx264 -preset veryfast -bf 0 -g 30 \
    -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p gop30.mp4
$ff -i gop30.mp4 -c copy gop30.mkv
# VFR: frame n is shown at (n + 2 * floor(n / 4)) / 30 s (a gap of two frame periods
# after every fourth frame).
$ff -f lavfi -i "$(src 160x120 30 80),setpts='(N+2*floor(N/4))/30/TB'" -fps_mode passthrough \
    $x264 vfr.mp4
# Rotation by metadata on a stream copy (FFmpeg 5.1 has no -display_rotation; the
# old "rotate" tag is written as a display matrix): ffmpeg shows rotate=90 turned
# 270 degrees clockwise, rotate=270 turned 90 clockwise.
$ff -i cfr30.mp4 -c copy -metadata:s:v rotate=90 rot90tag.mp4
$ff -i cfr30.mp4 -c copy -metadata:s:v rotate=270 rot270tag.mp4
$ff -i cfr30.mp4 -c copy -metadata:s:v rotate=180 rot180tag.mp4
# Odd dimensions (4:4:4 allows them).
$ff -f lavfi -i "color=c=black:s=161x121:r=30,trim=end_frame=60,format=yuv444p,$pat" \
    -c:v libx264 -preset veryfast -bf 3 -g 12 -pix_fmt yuv444p odd.mp4
# Audio longer than the video: 2 s of video, 4 s of sound (container duration 4 s).
$ff -f lavfi -i "$(src 160x120 30 60)" -f lavfi -i "sine=frequency=440:duration=4" \
    $x264 -c:a aac longaudio.mp4
# A still's pixels as FFmpeg's own converter makes them, to compare with.
$ff -i "$media/messi5.jpg" -f rawvideo -pix_fmt rgb24 messi5.rgb

# Bad inputs.
$ff -f lavfi -i "sine=frequency=440:duration=1" -c:a aac audio.m4a
# MPEG-4 part 2 in AVI with its fourcc (FMP4, in the strh and strf headers)
# replaced by one no decoder knows.
$ff -f lavfi -i "$(src 160x120 25 25)" -c:v mpeg4 known.avi
perl -0777 -pe 's/FMP4/XQZW/g' known.avi > unsupported.avi
rm known.avi
printf 'YUV4MPEG2 W17000 H16 F25:1 C420jpeg\nFRAME\n' > absurd.y4m
printf 'YUV4MPEG2 W16 H16 F25:1 C420jpeg\n' > noframes.y4m
# moov at the end: cutting the file loses the index.
size=$(wc -c < cfr25.mp4)
head -c $((size / 2)) cfr25.mp4 > truncated_nomoov.mp4
# moov first: the index survives, the media data stops at 40 %.
$ff -i cfr25.mp4 -c copy -movflags +faststart fast.mp4
size=$(wc -c < fast.mp4)
head -c $((size * 2 / 5)) fast.mp4 > truncated_fast.mp4
rm fast.mp4
echo "video test media in $out"
