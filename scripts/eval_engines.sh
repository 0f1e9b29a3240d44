#!/usr/bin/env bash
# Issue 6 item 7: the engines side by side with `vivify eval` (every result through the
# pipeline of `vivify animate`: tracked, smoothed, relative to the reference frame).
#  1. self-reenactment on the held-out clips (data/holdout.txt: people in no training clip),
#     K = 1, 8, 32 shots: warp, fsth (feed-forward), fsth-ft (fine-tuned), hybrid, with the
#     freeze baseline.  K = 32 keeps the frames sampled as before (after the first 32); the
#     animator takes at most 16 sources, so warp K = 32 is reported unavailable, and the
#     learned engines' person is made from all 32 shots (fine-tuned, or prepared) first;
#  2. cross-reenactment: every portrait in ../shared/data/portraits driven by one held-out
#     clip, K = 1 (the portrait).
# Both report how the output follows the driver in time (lag, mouth, blinks, head pose,
# jitter) over FOLLOW consecutive frames (default 250; 0: off).
# Fine-tuning gets a fixed budget (FT_STEPS, default 40) so the K rows are comparable.
#   scripts/eval_engines.sh [VIVIFY] [OUT_DIR]     (models: FSTH=..., HYBRID=..., default models/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIVIFY="${1:-$ROOT/build/vivify}"
OUT="${2:-eval_engines}"
DATA="${VIVIFY_DATA:-$ROOT/../shared/data}"
FSTH="${FSTH:-$ROOT/models/fsth128.safetensors}"
HYBRID="${HYBRID:-$ROOT/models/hybrid128.safetensors}"
FT_STEPS="${FT_STEPS:-40}"
FRAMES="${FRAMES:-8}"
CROSS_DRIVER="${CROSS_DRIVER:-lp_d3}"
FOLLOW="${FOLLOW:-250}"
mkdir -p "$OUT"
[ -x "$VIVIFY" ] || { echo "eval_engines: no vivify binary at $VIVIFY (./dev build)" >&2; exit 1; }
clips=()
while read -r name _; do
  case "$name" in ''|'#'*) continue ;; esac
  clips+=("$DATA/train/$name.mp4")
done < "$ROOT/data/holdout.txt"
engines="${ENGINES:-warp,freeze,fsth,fsth-ft,hybrid}"   # hybrid-ft too: ENGINES=...,hybrid-ft
"$VIVIFY" eval "${clips[@]}" --engine "$engines" --shots 1,8,32 --max-frames "$FRAMES" --follow-frames "$FOLLOW" \
  --finetune-steps "$FT_STEPS" --model "$FSTH,$HYBRID" -o "$OUT/self"
"$VIVIFY" eval "$DATA/train/$CROSS_DRIVER.mp4" --portraits "$DATA/portraits" --protocol cross --follow-frames "$FOLLOW" \
  --engine "$engines" --max-frames "$FRAMES" --finetune-steps "$FT_STEPS" --model "$FSTH,$HYBRID" -o "$OUT/cross"
echo "eval_engines: $OUT/self/report.md and $OUT/cross/report.md"
