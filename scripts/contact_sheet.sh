#!/usr/bin/env bash
# Contact sheet of `vivify animate` on every portrait (issue 3, item 10): one row per
# portrait: the whole source, then five frames of --motion talk, then five frames driven
# by ../shared/data/driving/lp_d0.mp4.  The animated tiles zoom on the head (the face box
# grown 2.4x, from `vivify landmarks`) of the full-resolution pasted-back frame, so seams,
# the mouth and the paste-back show at the portrait's own resolution.
#   scripts/contact_sheet.sh [VIVIFY_BINARY] [OUT.png]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIVIFY="${1:-$ROOT/build/vivify}"
OUT="${2:-contact_sheet.png}"
DATA="${VIVIFY_DATA:-$ROOT/../shared/data}"
DRIVER="$DATA/driving/lp_d0.mp4"
TILE=160
TALK_FRAMES=(10 25 40 55 70)     # of 75 (3 s at 25 fps)
DRIVEN_FRAMES=(10 25 40 55 70)   # lp_d0 has 78 frames
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
[ -x "$VIVIFY" ] || { echo "contact_sheet: no vivify binary at $VIVIFY (./dev build)" >&2; exit 1; }
[ -f "$DRIVER" ] || { echo "contact_sheet: no driver at $DRIVER" >&2; exit 1; }

n=0
tile() { # tile IMAGE|VIDEO FILTER [FRAME]
  local pick=""; [ $# -gt 2 ] && pick="select=eq(n\\,$3),"
  ffmpeg -loglevel error -y -i "$1" -vf "$pick$2,format=rgb24" -frames:v 1 "$WORK/tile_$(printf %04d $n).png"
  n=$((n + 1))
}
rows=0
for portrait in "$DATA"/portraits/*; do
  name="$(basename "${portrait%.*}")"
  "$VIVIFY" landmarks "$portrait" -o "$WORK/$name.json" 2>/dev/null
  # The face animate picks: the largest of those within 0.15 of the best detection score.
  read -r w h x0 y0 x1 y1 < <(jq -r '.frames[0].faces as $f | ($f | map(.score) | max) as $best
    | [.width, .height] + ([$f[] | select(.score >= $best - 0.15)][0].box) | map(floor) | @tsv' "$WORK/$name.json")
  # Head region: the face box grown 2.4x about its centre, square, inside the image.
  side=$(( (x1 - x0) * 12 / 5 )); [ $side -gt $w ] && side=$w; [ $side -gt $h ] && side=$h
  cx=$(( (x0 + x1) / 2 )); cy=$(( (y0 + y1) / 2 + (y1 - y0) / 8 ))
  left=$(( cx - side / 2 )); top=$(( cy - side / 2 ))
  [ $left -lt 0 ] && left=0; [ $top -lt 0 ] && top=0
  [ $((left + side)) -gt $((w & ~1)) ] && left=$(( (w & ~1) - side ))
  [ $((top + side)) -gt $((h & ~1)) ] && top=$(( (h & ~1) - side ))
  zoom="crop=$side:$side:$left:$top,scale=$TILE:$TILE:flags=area"
  "$VIVIFY" animate "$portrait" --motion talk --duration 3 -o "$WORK/talk_$name.mp4" 2>/dev/null
  "$VIVIFY" animate "$portrait" --driving "$DRIVER" --frames 100 --no-audio -o "$WORK/driven_$name.mp4" 2>/dev/null
  tile "$portrait" "scale=$TILE:$TILE:force_original_aspect_ratio=decrease:flags=area,pad=$TILE:$TILE:-1:-1:gray"
  for f in "${TALK_FRAMES[@]}"; do tile "$WORK/talk_$name.mp4" "$zoom" "$f"; done
  for f in "${DRIVEN_FRAMES[@]}"; do tile "$WORK/driven_$name.mp4" "$zoom" "$f"; done
  rows=$((rows + 1))
  echo "contact_sheet: $name (${w}x$h, head ${side}px at $left,$top)" >&2
done
ffmpeg -loglevel error -y -framerate 1 -i "$WORK/tile_%04d.png" -vf "tile=11x$rows" -frames:v 1 "$OUT"
echo "contact_sheet: wrote $OUT ($rows portraits; columns: source, 5x talk, 5x lp_d0)" >&2
