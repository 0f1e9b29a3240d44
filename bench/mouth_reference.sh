#!/usr/bin/env bash
# Mouth from an open reference (a measurement, not a test): each clip below starts with its
# lips apart (mid-word or laughing: its first frame, the reference, opens 0.11-0.35 of the
# mouth's width); the portrait is a frame of the same clip whose lips are closed and whose
# pose is near the first frame's, and the whole clip drives it.  The truth is the clip's own
# inner-lip gap per frame (dlib's points in ../shared/data/reference); the output's is read
# by `vivify landmarks`.  Prints per clip the gap's mean error (over the mouth's width), the
# output's and the truth's mean gap and their correlation, then the means.  Relative motion
# counting openings from the reference's left the portrait's mouth shut for most of these
# (motion.c mouth_from_closed).  All training clips: no held-out clip starts open.
# usage: bench/mouth_reference.sh [VIVIFY (default build/vivify)] [OUT (default a temp folder)]
# Measured 2026-12-07 (sixteenth session): before mouth_from_closed mean error 0.1155, output
#   gap 0.058 against the truth's 0.159, correlation 0.492; after 0.0525, 0.148, 0.810 (11 clips).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIVIFY="${1:-$ROOT/build/vivify}"
OUT="${2:-$(mktemp -d)}"
DATA="${VV_SHARED:-$ROOT/../shared}/data"
[ -x "$VIVIFY" ] || { echo "mouth_reference: no vivify binary at $VIVIFY" >&2; exit 2; }
[ -d "$DATA/train" ] && [ -d "$DATA/reference" ] || { echo "mouth_reference: no clips at $DATA (../shared/data)" >&2; exit 2; }
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
# clip:frame (a frame with its lips closed and its eyes open, its pose near the first frame's)
CLIPS="fom_00_obama:237 lp_d2:3 lp_src_s32:87 sty_src_andrew_clip_1:140 sty_src_andrew_clip_2:4
sty_src_feifeili_clip2_short:221 sty_style_furious_talk1_clip1:49 sty_style_furious_talk1_clip2:289
sty_style_furious_talk2_clip6:7 sty_style_surprisegirl_clip2:25
sty_style_trump_clip1:30"
for spec in $CLIPS; do
    IFS=: read -r clip frame <<< "$spec"
    source="$OUT/${clip}_$frame.png"
    [ -s "$source" ] || ffmpeg -loglevel error -y -i "$DATA/train/$clip.mp4" -vf "select=eq(n\,$frame)" -frames:v 1 "$source" < /dev/null
    "$VIVIFY" animate "$source" -d "$DATA/train/$clip.mp4" --frames 300 -o "$OUT/$clip.mp4" < /dev/null > /dev/null 2> "$OUT/$clip.log" ||
        { echo "mouth_reference: $clip failed (see $OUT/$clip.log)" >&2; exit 1; }
    "$VIVIFY" landmarks "$OUT/$clip.mp4" -o "$OUT/$clip.json" < /dev/null 2> /dev/null
    python3 - "$OUT/$clip.json" "$DATA/reference/$clip.jsonl" "$clip" "$frame" <<'PY'
import json, math, sys
def gap(p):  # the inner lips' gap across the eye line, over the mouth's width
    ex, ey = p[45][0] - p[36][0], p[45][1] - p[36][1]
    en = math.hypot(ex, ey)
    s = sum((-ey * (p[b][0] - p[a][0]) + ex * (p[b][1] - p[a][1])) / en for a, b in ((61, 67), (62, 66), (63, 65)))
    return s / 3 / math.hypot(p[54][0] - p[48][0], p[54][1] - p[48][1])
made = json.load(open(sys.argv[1]))["frames"]
truth = [(json.loads(l).get("faces") or [None])[0] for l in open(sys.argv[2])]
a, b = [], []
for i, fr in enumerate(made):
    if i < len(truth) and truth[i] and fr.get("faces"):
        a.append(gap(fr["faces"][0]["landmarks"]))
        b.append(gap(truth[i]["landmarks"]))
n = len(a)
ma, mb = sum(a) / n, sum(b) / n
r = sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b) + 1e-12)
print("%-30s from %4s  frames %3d error %.4f gap %.3f truth %.3f r %.3f" % (sys.argv[3], sys.argv[4], n,
      sum(abs(x - y) for x, y in zip(a, b)) / n, ma, mb, r))
PY
done | tee "$OUT/mouth_reference.txt"
awk '{e += $7; g += $9; t += $11; r += $13; n++} END {printf "%-30s %9s  error %.4f gap %.3f truth %.3f r %.3f\n", "mean", "", e / n, g / n, t / n, r / n}' "$OUT/mouth_reference.txt"
