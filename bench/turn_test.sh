#!/usr/bin/env bash
# Turn test (a measurement, not a test): self-reenactment from a turned frame.  Each clip below
# starts at a frame where the head is turned 20-35 degrees (dlib's nose off the face's middle
# by a quarter of its width or more); that frame is the portrait and the rest of the clip
# (cut there, re-encoded near-losslessly) drives it, so the output can be compared with the
# real frames while the head turns back through frontal and beyond: the far side of a
# three-quarter portrait turned into view, the case the eval's clips (which start frontal)
# never show.  Prints one line a clip and the mean of `vivify metrics` (SSIM, PSNR, L1 over
# the frame; CSIM, NME and pose error where both have a face) against the real frames.
# Training clips, not the held-out people: for looking and tuning.
# usage: bench/turn_test.sh [VIVIFY (default build/vivify)] [OUT (default a temp folder)]
#   e.g. bench/turn_test.sh build-rel/vivify /tmp/turn   (about a minute on 2 cores)
# Measured 2026-12-07 (thirteenth session, before the brow change; 2 cores):
#   sty_src_Obama_clip2 from 131: SSIM 0.724 PSNR 17.82 CSIM 0.775 NME 0.0297 pose 5.24
#   sty_style_happyenglish_clip2 from 251: 0.631 15.01 0.755 0.0450 6.76
#   sty_src_feifeili_clip1 from 10: 0.685 22.71 0.812 0.0219 2.07
#   sty_src_reagan_clip1 from 271: 0.790 22.11 0.824 0.0216 2.25
#   sty_style_sad_emotion_clip1 from 132: 0.717 21.50 0.854 0.0298 2.56
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIVIFY="${1:-$ROOT/build/vivify}"
OUT="${2:-$(mktemp -d)}"
TRAIN="${VV_SHARED:-$ROOT/../shared}/data/train"
[ -x "$VIVIFY" ] || { echo "turn_test: no vivify binary at $VIVIFY" >&2; exit 2; }
[ -d "$TRAIN" ] || { echo "turn_test: no training clips at $TRAIN (../shared/data/train)" >&2; exit 2; }
mkdir -p "$OUT"
# clip, first frame (the turned one), frames driven
CLIPS="sty_src_Obama_clip2:131:240 sty_style_happyenglish_clip2:251:135 sty_src_feifeili_clip1:10:240
sty_src_reagan_clip1:271:460 sty_style_sad_emotion_clip1:132:78"
export OPENBLAS_NUM_THREADS=1
python_mean='import json,sys
m=json.load(sys.stdin)["mean"]
print(" ".join("%s %.4f" % (k, m[k]) for k in ("SSIM","PSNR","L1","CSIM","NME","Pose")))'
for spec in $CLIPS; do
    IFS=: read -r clip start count <<< "$spec"
    real="$OUT/${clip}_from$start.mp4"
    if [ ! -s "$real" ]; then
        ffmpeg -loglevel error -y -i "$TRAIN/$clip.mp4" -vf "select=gte(n\,$start),setpts=N/FRAME_RATE/TB" -an \
            -frames:v "$count" -c:v libx264 -crf 10 "$real"
        ffmpeg -loglevel error -y -i "$real" -frames:v 1 "${real%.mp4}.png"
    fi
    "$VIVIFY" animate "${real%.mp4}.png" -d "$real" -o "$OUT/$clip.mp4" > /dev/null 2> "$OUT/$clip.log" ||
        { echo "turn_test: $clip failed (see $OUT/$clip.log)" >&2; exit 1; }
    printf '%-30s from %4d  ' "$clip" "$start"
    "$VIVIFY" metrics "$real" "$OUT/$clip.mp4" --json 2> /dev/null | python3 -c "$python_mean"
done | tee "$OUT/turn_test.txt"
python3 - "$OUT/turn_test.txt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
keys = rows[0][3::2]
means = [sum(float(r[4 + 2 * i]) for r in rows) / len(rows) for i in range(len(keys))]
print("%-30s %11s" % ("mean", ""), " ".join("%s %.4f" % (k, v) for k, v in zip(keys, means)))
PY
