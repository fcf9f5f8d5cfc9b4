#!/bin/sh
# blazepose_frames.sh OUTDIR -- the frame sets of the pose pipeline tests, as PNG (RGB24):
#   OUTDIR/motion/0001.png..0030.png  the known-motion clip (DESIGN.md §11): cold_water.jpg
#       padded to 1000x700 (100 px left, 84 px top), then frame n (ffmpeg's `in`, from 1)
#       moved by the similarity  p -> c + s R(a) (p - c) + t  with c = (500, 350),
#       a = 0.5 deg * (n-1) (clockwise on screen), s = 1 - 0.004 (n-1),
#       t = (-2 (n-1), n-1) px -- test_blazepose_motion.c uses the same numbers.
#   OUTDIR/vtest/0000.png..0029.png  frames 155..184 of vtest.avi (people walk in and out
#       of the detector's reach: poses found on some frames only).
# Runs from the repository root (media/).  Regenerates only what is missing.
set -eu
out=$1
mkdir -p "$out"
if [ ! -f "$out/motion/0030.png" ]; then
    rm -rf "$out/motion.tmp" && mkdir -p "$out/motion.tmp"
    A="(0.5*PI/180*(in-1))"
    S="(1-0.004*(in-1))"
    TX="(-2*(in-1))"
    TY="(1*(in-1))"
    px() { echo "500+$S*(cos($A)*($1-500)-sin($A)*($2-350))+$TX"; }
    py() { echo "350+$S*(sin($A)*($1-500)+cos($A)*($2-350))+$TY"; }
    persp="x0='$(px 0 0)':y0='$(py 0 0)':x1='$(px 1000 0)':y1='$(py 1000 0)'"
    persp="$persp:x2='$(px 0 700)':y2='$(py 0 700)':x3='$(px 1000 700)':y3='$(py 1000 700)'"
    ffmpeg -nostdin -v error -y -loop 1 -framerate 10 -i media/cold_water.jpg \
        -vf "pad=1000:700:100:84:black,perspective=$persp:sense=destination:eval=frame,format=rgb24" \
        -frames:v 30 "$out/motion.tmp/%04d.png"
    rm -rf "$out/motion" && mv "$out/motion.tmp" "$out/motion"
fi
if [ ! -f "$out/vtest/0029.png" ]; then
    rm -rf "$out/vtest.tmp" && mkdir -p "$out/vtest.tmp"
    ffmpeg -nostdin -v error -y -i media/vtest.avi -vf "select='between(n,155,184)',format=rgb24" \
        -vsync 0 -start_number 0 "$out/vtest.tmp/%04d.png"
    rm -rf "$out/vtest" && mv "$out/vtest.tmp" "$out/vtest"
fi
echo "blazepose_frames: $(ls "$out/motion" | wc -l) motion frames, $(ls "$out/vtest" | wc -l) vtest frames in $out"
