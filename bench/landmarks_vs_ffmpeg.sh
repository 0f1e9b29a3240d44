#!/usr/bin/env bash
# vivify landmarks on videos against FFmpeg's decode-only rate of the same clips, in one run
# (issue 18, item 16: keep vivify at or above a quarter of FFmpeg's rate).  Each clip is
# decoded by `ffmpeg -i CLIP -f null -` (its default threads) and tracked by `vivify
# landmarks CLIP -o FILE.json` (model loading included, as a user waits for it), clip by
# clip, alternating, so both see the same machine load.  BASELINE=PATH/TO/other/vivify
# times a second build on the same clips in the same run (e.g. the previous commit's).
# Prints one JSON line.
#
# Measured on this project's 2 shared cores (release builds, 50 train clips, 14,261 frames),
# while other test runs kept the load average at 3-4.7; decode thread (c417610) vs the build
# before it, same run each time:
#   ffmpeg 1314 fps; vivify 394 fps (0.300) vs 360 (0.274)    load 3.4
#   ffmpeg 1549 fps; vivify 391 fps (0.252) vs 400 (0.258)    load 3.2-3.6
#   ffmpeg 1353 fps; vivify 330 fps (0.244) vs 336 (0.248)    load 4.1-4.7
# So on a loaded 2-core machine the overlap of decoding with tracking gains little (no core
# is free for it) and the ratio sits about a quarter either way.  Where the time goes (perf
# over the 50 clips): BlazeFace's track check every 10 frames ~33 %, the 68-point predictor
# 10 %, parsing dlib's model at each start 6-9 %, the tracker's whole-frame gray conversion
# 4 % (15 % on 720p), dynamic linking 3 %; these are in face/ (tracker, detector, predictor).
# usage: [BASELINE=...] bench/landmarks_vs_ffmpeg.sh PATH/TO/vivify [CLIP...]
#        (default clips: ${VV_SHARED:-../shared}/data/train/*.mp4)
set -u
VIVIFY="$1"; shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -eq 0 ]; then set -- "${VV_SHARED:-$ROOT/../shared}"/data/train/*.mp4; fi
[ -e "$1" ] || { echo "landmarks_vs_ffmpeg: no clips (../shared/data/train absent?)" >&2; exit 77; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
now() { date +%s.%N; }
add() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%.3f", a + c - b }'; }
track() { # track BINARY CLIP
  OPENBLAS_NUM_THREADS=1 "$1" landmarks "$2" -o "$TMP/l.json" 2>"$TMP/log" \
    || { echo "landmarks_vs_ffmpeg: $1 failed on $2: $(tail -1 "$TMP/log")" >&2; exit 1; }
}
frames=0; ffmpeg_s=0; vivify_s=0; baseline_s=0
for clip in "$@"; do
  n="$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$clip")"
  t0="$(now)"; ffmpeg -nostdin -v error -i "$clip" -f null - || exit 1
  t1="$(now)"; track "$VIVIFY" "$clip"
  t2="$(now)"
  if [ -n "${BASELINE:-}" ]; then track "$BASELINE" "$clip"; t3="$(now)"; baseline_s="$(add "$baseline_s" "$t2" "$t3")"; fi
  frames=$((frames + n))
  ffmpeg_s="$(add "$ffmpeg_s" "$t0" "$t1")"
  vivify_s="$(add "$vivify_s" "$t1" "$t2")"
done
awk -v n="$frames" -v f="$ffmpeg_s" -v v="$vivify_s" -v b="$baseline_s" -v clips=$# -v cores="$(nproc)" 'BEGIN {
  printf "{\"bench\":\"landmarks_vs_ffmpeg\",\"clips\":%d,\"frames\":%d,\"cores\":%d,\"ffmpeg_s\":%.2f,\"vivify_s\":%.2f,", clips, n, cores, f, v
  printf "\"ffmpeg_fps\":%.1f,\"vivify_fps\":%.1f,\"ratio\":%.3f", n / f, n / v, (n / v) / (n / f)
  if (b > 0) printf ",\"baseline_s\":%.2f,\"baseline_fps\":%.1f,\"baseline_ratio\":%.3f", b, n / b, (n / b) / (n / f)
  printf "}\n" }'
