#!/usr/bin/env bash
# vivify landmarks on videos against FFmpeg's decode-only rate of the same clips, in one run
# (issue 18, item 16: keep vivify at or above a quarter of FFmpeg's rate).  Each clip is
# decoded by `ffmpeg -i CLIP -f null -` (its default threads) and tracked by `vivify
# landmarks CLIP -o FILE.json` (model loading included, as a user waits for it), clip by
# clip, alternating, so both see the same machine load.  BASELINE=PATH/TO/other/vivify
# times a second build on the same clips in the same run (e.g. the previous commit's).
# Prints one JSON line: wall-clock rates and their ratio (the issue's measure), CPU seconds
# (user + sys of every thread) and ffmpeg's CPU over vivify's (cpu_ratio), which a loaded
# machine disturbs less; the load average at the end.
#
# Measured on this project's 2 shared cores (release builds, 50 train clips, 14,261 frames)
# at load average 11-13, against the build before the model cache, lazy libavdevice and
# SDL2 and the tracker's gray reads (docs/HARDENING.md, "Speed of vivify landmarks"), same
# run each time: ratio 0.434 vs 0.279; 0.389 vs 0.315; 0.419 vs 0.326 (CPU 27-28 s vs
# 33-36 s; FFmpeg's 9.6-10 s).
# Before that, the decode thread (c417610) gained little on the loaded machine (0.244-0.300).
# Where the time goes now (perf over the 50 clips): the 68-point predictor ~20 % (reading
# 4 MB of leaves a frame), BlazeFace's track checks ~17 %, H.264 decoding ~19 %; start-up
# ~100 ms of CPU a clip (FFmpeg's ~90 ms), of which dynamic linking and oneDNN's start the
# most.
# usage: [BASELINE=...] bench/landmarks_vs_ffmpeg.sh PATH/TO/vivify [CLIP...]
#        (default clips: ${VV_SHARED:-../shared}/data/train/*.mp4)
set -u
VIVIFY="$1"; shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -eq 0 ]; then set -- "${VV_SHARED:-$ROOT/../shared}"/data/train/*.mp4; fi
[ -e "$1" ] || { echo "landmarks_vs_ffmpeg: no clips (../shared/data/train absent?)" >&2; exit 77; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# Wall and CPU (user + sys, the command's threads and children) of one command: bash's own
# `time`, appended to $TMP/times as "wall cpu".
TIMEFORMAT='%R %U %S'
exec 3>&2 # the failures below, past `time`'s redirection
timed() { { time "$@"; } 2>"$TMP/t"; awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$TMP/t" >>"$TMP/times"; }
track() { # track BINARY CLIP
  OPENBLAS_NUM_THREADS=1 "$1" landmarks "$2" -o "$TMP/l.json" 2>"$TMP/log" \
    || { echo "landmarks_vs_ffmpeg: $1 failed on $2: $(tail -1 "$TMP/log")" >&3; exit 1; }
}
decode() { # decode CLIP
  ffmpeg -nostdin -v error -i "$1" -f null - 2>"$TMP/log" \
    || { echo "landmarks_vs_ffmpeg: ffmpeg failed on $1: $(tail -1 "$TMP/log")" >&3; exit 1; }
}
frames=0
: >"$TMP/ffmpeg"; : >"$TMP/vivify"; : >"$TMP/baseline"
for clip in "$@"; do
  n="$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets -of csv=p=0 "$clip")"
  : >"$TMP/times"; timed decode "$clip"; cat "$TMP/times" >>"$TMP/ffmpeg"
  : >"$TMP/times"; timed track "$VIVIFY" "$clip"; cat "$TMP/times" >>"$TMP/vivify"
  if [ -n "${BASELINE:-}" ]; then : >"$TMP/times"; timed track "$BASELINE" "$clip"; cat "$TMP/times" >>"$TMP/baseline"; fi
  frames=$((frames + n))
done
total() { awk -v c="$2" '{ s += $c } END { printf "%.3f", s }' "$TMP/$1"; }
awk -v n="$frames" -v f="$(total ffmpeg 1)" -v fc="$(total ffmpeg 2)" -v v="$(total vivify 1)" \
    -v vc="$(total vivify 2)" -v b="$(total baseline 1)" -v bc="$(total baseline 2)" -v clips=$# \
    -v cores="$(nproc)" -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" 'BEGIN {
  printf "{\"bench\":\"landmarks_vs_ffmpeg\",\"clips\":%d,\"frames\":%d,\"cores\":%d,\"load\":\"%s\",", clips, n, cores, load
  printf "\"ffmpeg_s\":%.2f,\"ffmpeg_cpu_s\":%.2f,\"vivify_s\":%.2f,\"vivify_cpu_s\":%.2f,", f, fc, v, vc
  printf "\"ffmpeg_fps\":%.1f,\"vivify_fps\":%.1f,\"ratio\":%.3f,\"cpu_ratio\":%.3f", n / f, n / v, (n / v) / (n / f), fc / vc
  if (b > 0) printf ",\"baseline_s\":%.2f,\"baseline_cpu_s\":%.2f,\"baseline_fps\":%.1f,\"baseline_ratio\":%.3f,\"baseline_cpu_ratio\":%.3f", b, bc, n / b, (n / b) / (n / f), fc / bc
  printf "}\n" }'
