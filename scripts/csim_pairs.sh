#!/bin/bash
# CSIM of same-person vs different-person frame pairs with `vivify metrics --json`
# (frame t of A against frame t of B, 8 frames a pair).
# usage: scripts/csim_pairs.sh [VIVIFY] [TRAIN_DIR]   (prints a TSV: kind, A, B, CSIM)
V="${1:-build-rel/vivify}"
T="${2:-../shared/data/train}"
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT

csim() { $V metrics "$1" "$2" --json --max-frames 8 2>/dev/null | grep -oE '"CSIM":[[:space:]]*[-0-9.e]+' | grep -oE '[-0-9.e]+$'; }
echo "kind	A	B	CSIM"
for c in lp_d10 sty_src_Obama_clip1 sty_src_KristiNoem fom_04_trump sty_src_feifeili_clip1 sty_src_reagan_clip1; do
  # the same clip 40 frames later: same person, other expression and pose
  ffmpeg -v error -y -i $T/$c.mp4 -vf "trim=start_frame=40,setpts=PTS-STARTPTS" -an -frames:v 8 $W/$c.mp4
  echo "same-clip	$c	$c+40	$(csim $T/$c.mp4 $W/$c.mp4)"
done
for p in "sty_src_Obama_clip1 sty_src_Obama_clip2" "sty_src_Obama_clip1 fom_00_obama" "sty_src_feifeili_clip1 sty_src_feifeili_clip3" "sty_src_andrew_clip_1 sty_src_andrew_clip_2" "fom_04_trump sty_style_trump_clip1"; do
  set -- $p; echo "same-person	$1	$2	$(csim $T/$1.mp4 $T/$2.mp4)"
done
for p in "sty_src_Obama_clip1 sty_src_KristiNoem" "fom_04_trump sty_src_feifeili_clip1" "sty_src_reagan_clip1 sty_src_andrew_clip_1" "lp_d10 sty_src_Obama_clip2" "sty_src_KristiNoem sty_src_feifeili_clip3" "fom_00_obama lp_d10" "sty_src_reagan_clip1 fom_04_trump" "sty_src_andrew_clip_2 sty_src_KristiNoem"; do
  set -- $p; echo "different	$1	$2	$(csim $T/$1.mp4 $T/$2.mp4)"
done
