#!/usr/bin/env bash
# Long-driver measurement (not a test): loops ../shared/data/driving/lp_d0.mp4 into a
# MINUTES-long driver (ffmpeg -stream_loop, video stream-copied; a tone as its AAC audio so
# the audio path is measured too: seconds to make), animates the bundled portrait with it
# (the output carries the audio) and prints one JSON line: peak RSS (/usr/bin/time -v), wall time,
# frames/s and the load average.  Memory must not grow with the driver's length: compare
# MINUTES=2 with MINUTES=30 (issue 8: < 500 MB).
# usage: bench/long_driver.sh [MINUTES (default 30)] [VIVIFY (default build/vivify)]
#   e.g. nice -n 5 bench/long_driver.sh 30 build-rel/vivify
# Measured 2026-12-07 (eleventh session, 0624b8d: the tracker keeps up to 64 frames beyond the
# lookahead while the heads are built; 2 cores, quiet, Release): 30 min (45 002 frames, audio
# 1800 s): peak RSS 294.9 MB, 382 s, 117.8 frames/s; 3 min (4 502 frames, load 4-8): 272.6 MB.
# Measured 2026-12-06, the 3D head (default engine) with the tracker keeping the driver's
# frames for the render and the writer converting on write (2 shared cores, Release): 30 min
# (45 002 frames, audio 1800 s; nice 5 under load 9-18): peak RSS 261.4 MB, 3446 s, 13.1
# frames/s; 2 min (3002 frames, load 6-8): 237.1 MB, 65.6 frames/s: +24 MB over 42 000
# frames, ~0.6 KB a frame, FFmpeg's indexes as below.
# Measured 2026-11-25 (2 shared cores, load 7-16, Release): 30 min (45 002 frames, audio
# 1800 s): peak RSS 220.9 MB, 1123 s, 40.1 frames/s; 2 min (3002 frames): 195.2 MB, 38.7
# frames/s.  What still grows (~0.5 KB a frame) is FFmpeg's: the mp4 muxer's per-packet
# index until the trailer and the demuxers' sample tables (the driver is opened three
# times: tracker, renderer, audio).  Before the streaming window (driver without audio):
# 2 min 199 MB; 30 min 249 MB at frame ~37 000 when stopped, rising ~1.5 KB a frame (the
# tracker kept the whole track twice, ~1.1 KB a frame).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-30}"
VIVIFY="${2:-$ROOT/build/vivify}"
CLIP="$ROOT/../shared/data/driving/lp_d0.mp4"
SOURCE="$ROOT/examples/mona_lisa.png"
DRIVER="/tmp/vivify_long_driver_${MINUTES}min.mp4"
OUT="${OUT:-/tmp/long_out_${MINUTES}min.mp4}"
[ -x "$VIVIFY" ] || { echo "long_driver: no binary $VIVIFY (build a Release first)" >&2; exit 2; }
[ -f "$CLIP" ] || { echo "long_driver: $CLIP is missing" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "long_driver: needs GNU time (/usr/bin/time)" >&2; exit 2; }

seconds=$((MINUTES * 60))
clip_s="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$CLIP")"
loops="$(awk -v t="$seconds" -v c="$clip_s" 'BEGIN { n = int(t / c) + 1; print n }')"
ffmpeg -nostdin -loglevel error -y -stream_loop "$loops" -i "$CLIP" -f lavfi -i "sine=frequency=220:duration=$seconds" \
  -map 0:v -map 1:a -c:v copy -c:a aac -b:a 64k -t "$seconds" "$DRIVER"
driver_frames="$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
  -of csv=p=0 "$DRIVER")"

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
load_before="$(cut -d' ' -f1 /proc/loadavg)"
start="$(date +%s.%N)"
/usr/bin/time -v "$VIVIFY" animate "$SOURCE" --driving "$DRIVER" -o "$OUT" 2>"$LOG" || {
  echo "long_driver: animate failed:" >&2; grep -v "^animate: [0-9]*/" "$LOG" | tail -5 >&2; exit 1; }
end="$(date +%s.%N)"
load_after="$(cut -d' ' -f1 /proc/loadavg)"
rss_kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$LOG")"
audio_s="$(ffprobe -v error -select_streams a:0 -show_entries stream=duration -of csv=p=0 "$OUT")"
out_frames="$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
  -of csv=p=0 "$OUT")"
awk -v m="$MINUTES" -v df="$driver_frames" -v of="$out_frames" -v rss="$rss_kb" -v s="$start" -v e="$end" \
    -v lb="$load_before" -v la="$load_after" -v out="$OUT" -v audio="${audio_s:-0}" -v cpus="$(nproc)" 'BEGIN {
  wall = e - s
  printf "{\"driver_minutes\": %d, \"driver_frames\": %d, \"output_frames\": %d, \"peak_rss_mb\": %.1f, " \
         "\"wall_s\": %.1f, \"fps\": %.2f, \"output_audio_s\": %.1f, \"cpus\": %d, \"load_before\": %s, " \
         "\"load_after\": %s, \"output\": \"%s\"}\n",
         m, df, of, rss / 1024, wall, of / wall, audio, cpus, lb, la, out
}'
