#!/usr/bin/env bash
# vivify animate stopped by SIGINT / SIGTERM mid-run: exit code 130 and nothing left behind
# (no output, no temporary file); with --keep-partial a valid shorter output (H.264 mp4 with
# its audio cut to the frames, a PNG folder) holding as many frames as the line it prints.
# The signal is sent once the first frame is written (animate's first progress line), so the
# test does not depend on the machine's speed.
# usage: cli_interrupt.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib/check.sh"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
# The bundled portrait at half size: quicker frames (each run still spends ~2 CPU s under
# ASan loading the face models).
ffmpeg -loglevel error -i "$ROOT/examples/mona_lisa.png" -vf "scale=256:-2" "$TMP/portrait.png"
SOURCE="$TMP/portrait.png"

# ok $(CHECK && echo 1) MESSAGE: a failed check leaves MESSAGE alone (no "1"): still a failure, not an abort under set -u.
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
duration_of() { # duration_of FILE v|a
  ffprobe -v error -select_streams "$2:0" -show_entries stream=duration -of csv=p=0 "$1"; }

# interrupt SIGNAL DIR -- vivify animate args...: starts the command in the background
# (stderr to DIR.log), waits until it has written a frame (non-tty progress prints
# "animate: 1/N frames" after the first; 60 s at most) and a little more, sends SIGNAL,
# and sets RC.
interrupt() {
  local signal="$1" dir="$2"; shift 3
  mkdir -p "$dir"
  : >"$dir.log"
  "$VIVIFY" "$@" 2>"$dir.log" &
  PID=$!
  local waited=0
  until grep -qE "^animate: [0-9]+/" "$dir.log"; do
    if ! kill -0 "$PID" 2>/dev/null || [ "$waited" -ge 600 ]; then break; fi
    sleep 0.1; waited=$((waited + 1))
  done
  sleep 0.3
  kill -"$signal" "$PID" 2>/dev/null
  wait "$PID"; RC=$?
  PID=""; echo "  $(basename "$dir"): exit $RC, signal sent after $((waited / 10)) s" >&2
}
kept_of() { sed -n 's/.*interrupted; kept \([0-9]*\) frames.*/\1/p' "$1" | tail -1; }
clean() { ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error|Segmentation" "$1"; }

# A 60 s driver with a tone: the portrait held still for 1 s at 20 fps (a face), looped by
# stream copy (quick to make, slow to animate).
ffmpeg -loglevel error -loop 1 -i "$SOURCE" -f lavfi -i "sine=frequency=300:duration=1" -t 1 -r 20 \
  -vf "scale=128:-2" -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/clip.mp4"
ffmpeg -loglevel error -stream_loop 59 -i "$TMP/clip.mp4" -c copy "$TMP/driver.mp4"
[ -s "$TMP/driver.mp4" ] || { echo "SKIPPED: could not make the driver"; exit 77; }

# 1. SIGINT, default: exit 130, one "interrupted" message, nothing left in the folder.
D="$TMP/plain"
interrupt INT "$D" -- animate "$SOURCE" --motion talk --duration 60 -o "$D/out.mp4"
ok $([ "$RC" = 130 ] && echo 1) "SIGINT: exit $RC, want 130: $(tail -c 300 "$D.log")"
ok $(grep -q "^vivify: interrupted; no output written" "$D.log" && clean "$D.log" && echo 1) \
  "SIGINT: message: $(tail -c 300 "$D.log")"
ok $([ -z "$(ls -A "$D")" ] && echo 1) "SIGINT: left behind: $(ls -A "$D")"

# 2. SIGINT with --keep-partial on a driver with audio: a valid H.264 mp4 with as many frames
# as printed, fewer than the driver's 1200, and its audio cut where the video ends.
D="$TMP/keep"
interrupt INT "$D" -- animate "$SOURCE" --driving "$TMP/driver.mp4" --keep-partial -o "$D/out.mp4"
kept="$(kept_of "$D.log")"
ok $([ "$RC" = 130 ] && clean "$D.log" && echo 1) "--keep-partial: exit $RC, want 130: $(tail -c 300 "$D.log")"
ok $([ -s "$D/out.mp4" ] && [ "$(ls -A "$D")" = out.mp4 ] && echo 1) "--keep-partial: folder holds: $(ls -A "$D")"
codec="$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 "$D/out.mp4" 2>/dev/null)"
format="$(ffprobe -v error -show_entries format=format_name -of csv=p=0 "$D/out.mp4" 2>/dev/null)"
ok $([ "$codec" = h264 ] && case "$format" in *mp4*) true;; *) false;; esac && echo 1) \
  "--keep-partial: codec '$codec' format '$format'"
frames="$(frames_of "$D/out.mp4" 2>/dev/null)"
ok $([ -n "$kept" ] && [ "${frames:-0}" -gt 0 ] && [ "${frames:-0}" -lt 1200 ] && [ "$frames" = "$kept" ] && echo 1) \
  "--keep-partial: $frames frames in the file, printed '$kept' (want 0 < n < 1200, equal)"
vdur="$(duration_of "$D/out.mp4" v)"; adur="$(duration_of "$D/out.mp4" a)"
ok $(awk -v v="${vdur:-0}" -v a="${adur:-0}" 'BEGIN { d = v - a; exit !(v > 0 && a > 0 && d < 0.1 && d > -0.1) }' && echo 1) \
  "--keep-partial: video ${vdur:-none} s, audio ${adur:-none} s (want equal within 0.1 s)"

# 3. SIGTERM with --keep-partial into a PNG folder: the frames so far, numbered from 0.
D="$TMP/png"
interrupt TERM "$D" -- animate "$SOURCE" --motion talk --duration 60 --keep-partial -o "$D/frames/"
kept="$(kept_of "$D.log")"
count="$(find "$D/frames" -name "frame_*.png" 2>/dev/null | wc -l)"
ok $([ "$RC" = 130 ] && clean "$D.log" && echo 1) "SIGTERM png: exit $RC, want 130: $(tail -c 300 "$D.log")"
ok $([ -n "$kept" ] && [ "$count" = "$kept" ] && [ "$count" -gt 0 ] && [ -s "$D/frames/frame_00000.png" ] \
     && [ "$(ls -A "$D")" = frames ] && echo 1) "SIGTERM png: $count files, printed '$kept', folder: $(ls -A "$D")"

# 4. SIGTERM into a GIF, default: nothing left.
D="$TMP/gif"
interrupt TERM "$D" -- animate "$SOURCE" --motion talk --duration 60 -o "$D/out.gif"
ok $([ "$RC" = 130 ] && clean "$D.log" && [ -z "$(ls -A "$D")" ] && echo 1) \
  "SIGTERM gif: exit $RC, left: $(ls -A "$D"): $(tail -c 300 "$D.log")"

echo "cli_interrupt: $passed passed, $failed failed"
[ "$failed" = 0 ]
