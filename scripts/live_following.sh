#!/usr/bin/env bash
# live_following.sh: what lag and jitter the live smoothing leaves (issue 16 item 2).
# Self-reenactment: each CLIP's first frame is the portrait, the clip its driver; the output's
# own landmarks (vivify landmarks --smooth 0) against the clip's, by scripts/measure_following.c
# (lag in frames by cross-correlation of mouth, eyes, yaw, pitch, roll and brows; jitter on
# the clip's still frames, output / driver).
#   MODE=animate (default): vivify animate --lookahead 0 (the live timeline, every frame
#     made: no drops, so the figures are the filter's);
#   MODE=live: vivify live --input CLIP --output (real time: drops under load repeat frames).
#   SMOOTH=S: the smoothing strength (0: raw landmarks, 1: the default).
# usage: scripts/live_following.sh VIVIFY MEASURE_FOLLOWING OUTDIR CLIP...
set -eu
V="$1"; M="$2"; O="$3"; shift 3
mkdir -p "$O"
export OPENBLAS_NUM_THREADS=1
for c in "$@"; do
  n="$(basename "$c" .mp4)"
  [ -s "$O/$n.src.png" ] || ffmpeg -loglevel error -y -i "$c" -frames:v 1 "$O/$n.src.png"
  [ -s "$O/$n.drv.json" ] || "$V" landmarks --smooth 0 "$c" -o "$O/$n.drv.json" 2>/dev/null
  if [ "${MODE:-animate}" = live ]; then
    "$V" live "$O/$n.src.png" --smoothing "${SMOOTH:-1}" --input "$c" --output "$O/$n.out.mp4" --stats "$O/$n.stats.json" 2>"$O/$n.log"
  else
    "$V" animate "$O/$n.src.png" --driving "$c" --lookahead 0 --smoothing "${SMOOTH:-1}" -o "$O/$n.out.mp4" 2>"$O/$n.log"
  fi
  "$V" landmarks --smooth 0 "$O/$n.out.mp4" -o "$O/$n.out.json" 2>/dev/null
  "$M" "$O/$n.out.json" "$O/$n.drv.json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = lambda v: "-" if v is None else "%.3f" % v
print("%s: lag %s frames (sub-frame %s, confidence %s); jitter %s (driver %s, output %s on %d still frames); mouth r %s, yaw r %s" % (
    sys.argv[1], d["lag"]["frames"], f(d["lag"]["subframe"]), f(d["lag"]["confidence"]), f(d["jitter"]["ratio"]),
    f(d["jitter"]["driver"]), f(d["jitter"]["output"]), d["jitter"]["still_frames"], f(d["mouth_correlation"]),
    f(d["pose"]["yaw_correlation"])))' "$n"
done
