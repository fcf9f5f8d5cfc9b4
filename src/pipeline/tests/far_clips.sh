#!/bin/sh
# far_clips.sh OUTDIR -- the known-motion clips of test_far_players, made once per build
# tree.  The man of media/cold_water.jpg (the region x 290..660, y 150..533 of the photo:
# head to shins, the others in the photo left out) scaled to S % of 1080 px in height
# and laid over a grey 1920x1080 frame with ffmpeg's overlay, 30 fps, 2 s, x264:
#   OUTDIR/far_S.mp4 (S = 15, 20, 25, 40; h = round(S * 10.8) px tall): top-left corner
#       at x = floor(700 + 0.8 h sin(2 pi t / 3)), y = floor(400 + 0.2 h sin(2 pi t / 2)),
#       t = n / 30 for frame n (test_far_players.c uses the same numbers): at most 1.7
#       of his heights a second, a batter's step (the motion scales with the size, so
#       every size sees the same motion relative to the man)
#   OUTDIR/two.mp4: the man twice at 30 %, still, top-left corners (500, 400) and
#       (1200, 400), 1 s
# Runs from the repository root (media/).  Regenerates only what is missing.
set -eu
out=$1
mkdir -p "$out"
ff="ffmpeg -nostdin -v error -y"
enc="-c:v libx264 -preset ultrafast -crf 18 -pix_fmt yuv420p"
bg="color=c=0x506070:s=1920x1080:r=30"
for s in 15 20 25 40; do
    [ -f "$out/far_$s.mp4" ] && continue # v2 path
    h=$(( (s * 1080 + 50) / 100 ))
    $ff -f lavfi -i "$bg:d=2" -loop 1 -framerate 30 -i media/cold_water.jpg -filter_complex \
        "[1:v]crop=370:383:290:150,scale=-2:$h[p];[0:v][p]overlay=x='floor(700+0.8*$h*sin(2*PI*t/3))':y='floor(400+0.2*$h*sin(2*PI*t/2))':format=rgb:shortest=1,format=yuv420p" \
        -frames:v 60 $enc "$out/far_$s.tmp.mp4"
    mv "$out/far_$s.tmp.mp4" "$out/far_$s.mp4"
done
if [ ! -f "$out/two.mp4" ]; then
    $ff -f lavfi -i "$bg:d=1" -loop 1 -framerate 30 -i media/cold_water.jpg -filter_complex \
        "[1:v]crop=370:383:290:150,scale=-2:324,split[a][b];[0:v][a]overlay=500:400:format=rgb[l];[l][b]overlay=1200:400:format=rgb:shortest=1,format=yuv420p" \
        -frames:v 30 $enc "$out/two.tmp.mp4"
    mv "$out/two.tmp.mp4" "$out/two.mp4"
fi
echo "far_clips: $(ls "$out" | wc -l) clips in $out"
