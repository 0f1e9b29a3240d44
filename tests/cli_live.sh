#!/usr/bin/env bash
# vivify live: a driver file paced as a camera, through the streaming API, to a recording.
#  1. a 3 s clip with a face and a tone (made here from examples/grace_hopper.jpg, no
#     ../shared needed) driving the Mona Lisa: exit 0; --stats JSON with frames_in (= the
#     clip's frames), frames_out + dropped = frames_in, frames_out > 0, positive latency
#     percentiles and fps; the recording an H.264 mp4 in real time (one frame per input
#     frame: a dropped frame's slot repeats the output before it) with the clip's audio in sync;
#  2. SIGINT mid-run on a 30 s clip: exit 130, a playable recording holding the frames the
#     stats say, the stats still written and consistent;
#  3. the clip through a pipe (pipe:) and a lavfi graph (lavfi:movie=...), read through
#     libavdevice, and raw frames on a pipe (--input-format rawvideo --input-options ...):
#     every frame in, the recording in real time; SIGTERM while the pipe is open
#     and idle still stops (exit 130, recording kept); a build without libavdevice
#     refuses them as not supported (exit 12);
#  4. --window (SDL2) on SDL's dummy video driver, alone and with --output: every frame in,
#     the stats consistent, the recording in real time; without a display it is refused
#     (exit 12), as in a build without SDL2;
#  5. bad input: a missing input file, a file that is no video, a missing camera, a bad lavfi
#     graph, garbage on the pipe, a misspelt or unknown --input-options / --input-format, no output given, a portrait without a face, a missing
#     portrait, --v4l2 without v4l2loopback (no such device; a file, /dev/null): one line each,
#     distinct exit codes, nothing written;
#  6. keys on a terminal (a pty): every gain down to 0 stills the portrait, n recalibrates, s
#     says there is one portrait, q stops early with the recording kept.
# usage: cli_live.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
command -v python3 >/dev/null || { echo "SKIPPED: no python3 (reads the stats JSON)"; exit 77; }
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json facemesh.json selfie.json dlib; do
  model_present "$m" || { echo "SKIPPED: $m not present (./dev setup)"; exit 77; }
done
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
START=$(date +%s)
passed=0
failed=0
# ok $(CHECK && echo 1) MESSAGE: a failed check leaves MESSAGE alone (no "1"): still a failure.
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1" 2>/dev/null; }
duration_of() { ffprobe -v error -select_streams "$2:0" -show_entries stream=duration -of csv=p=0 "$1" 2>/dev/null; }
clean() { ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error|Segmentation" "$1"; }
# field FILE.json EXPR: a value of the stats (python expression over d), or "missing".
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo missing; }
# stats_consistent FILE.json: every field there and numeric; frames_out + dropped = frames_in;
# frames_out > 0; latency p50 <= p95 <= max, p95 > 0; fps > 0.
stats_consistent() {
  python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
lat = d["latency_ms"]
assert all(num(d[k]) for k in ("frames_in", "frames_out", "dropped", "fps", "frames_recorded")), d
assert all(num(lat[k]) for k in ("p50", "p95", "max")), lat
assert d["frames_out"] + d["dropped"] == d["frames_in"], d
assert d["frames_out"] > 0 and d["fps"] > 0, d
assert 0 < lat["p95"] and lat["p50"] <= lat["p95"] <= lat["max"], lat
stages = d["stages_ms"]
assert all(num(stages[k][q]) and stages[k][q] >= 0 for k in ("wait", "track", "render", "output") for q in ("p50", "p95")), stages
EOF
}

SOURCE="$ROOT/examples/mona_lisa.png"
# The driver: Grace Hopper zooming in and out, 256x256 at 25 fps, 3 s, with a tone.
ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/grace_hopper.jpg" -f lavfi -i "sine=frequency=300:duration=3" \
  -filter_complex "[0:v]scale=512:-2,zoompan=z='1+0.1*sin(on/8)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=256x256:fps=25[v]" \
  -map "[v]" -map 1:a -t 3 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/clip.mp4"
CLIP_FRAMES="$(frames_of "$TMP/clip.mp4")"
[ "${CLIP_FRAMES:-0}" -gt 0 ] || { echo "SKIPPED: could not make the driver clip"; exit 77; }

# 1. The clip, paced at 25 fps, to a recording with stats.
"$VIVIFY" live "$SOURCE" --input "$TMP/clip.mp4" --output "$TMP/out.mp4" --stats "$TMP/stats.json" 2>"$TMP/run.log"
RC=$?
ok $([ "$RC" = 0 ] && clean "$TMP/run.log" && echo 1) "run: exit $RC: $(tail -c 400 "$TMP/run.log")"
ok $(stats_consistent "$TMP/stats.json" 2>"$TMP/stats.err" && echo 1) \
  "run: stats inconsistent: $(cat "$TMP/stats.json" 2>/dev/null) $(tail -c 300 "$TMP/stats.err")"
IN="$(field "$TMP/stats.json" 'd["frames_in"]')"
OUT="$(field "$TMP/stats.json" 'd["frames_out"]')"
REC="$(field "$TMP/stats.json" 'd["frames_recorded"]')"
ok $([ "$IN" = "$CLIP_FRAMES" ] && echo 1) "run: frames_in $IN, the clip has $CLIP_FRAMES"
FRAMES="$(frames_of "$TMP/out.mp4")"
ok $([ "${FRAMES:-0}" = "$REC" ] && [ "$REC" = "$IN" ] && echo 1) \
  "run: the recording has ${FRAMES:-no} frames, stats say recorded $REC (want frames_in $IN: real time)"
CODEC="$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name -of csv=p=0 "$TMP/out.mp4" 2>/dev/null)"
ok $([ "$CODEC" = h264 ] && echo 1) "run: recording codec '$CODEC'"
VDUR="$(duration_of "$TMP/out.mp4" v)"; ADUR="$(duration_of "$TMP/out.mp4" a)"
ok $(awk -v v="${VDUR:-0}" -v a="${ADUR:-0}" 'BEGIN { d = v - a; exit !(v > 2.9 && a > 0 && d < 0.1 && d > -0.1) }' && echo 1) \
  "run: video ${VDUR:-none} s, audio ${ADUR:-none} s (want 3 s, equal within 0.1 s)"
# The summary line with the same figures; the status line once frames flowed.
ok $(grep -qE "^live: $IN frames in, $OUT out, [0-9]+ dropped; [0-9.]+ fps; latency p50 [0-9.]+ ms, p95 [0-9.]+ ms" "$TMP/run.log" \
     && grep -qE "^live: [0-9]+ in, [0-9]+ out, [0-9]+ dropped; [0-9.]+ fps, latency" "$TMP/run.log" && echo 1) \
  "run: summary / status lines: $(tail -c 400 "$TMP/run.log")"

# 2. SIGINT mid-run on a 30 s driver: the recording so far, playable; the stats written.
ffmpeg -loglevel error -stream_loop 9 -i "$TMP/clip.mp4" -c copy "$TMP/long.mp4"
"$VIVIFY" live "$SOURCE" --input "$TMP/long.mp4" --output "$TMP/int.mp4" --stats "$TMP/int.json" 2>"$TMP/int.log" &
PID=$!
waited=0
until grep -qE "^live: [0-9]+ in" "$TMP/int.log"; do # the first status line: frames are flowing
  if ! kill -0 "$PID" 2>/dev/null || [ "$waited" -ge 600 ]; then break; fi
  sleep 0.1; waited=$((waited + 1))
done
sleep 1
kill -INT "$PID" 2>/dev/null
wait "$PID"; RC=$?; PID=""
ok $([ "$RC" = 130 ] && clean "$TMP/int.log" && grep -q "^vivify: interrupted; the recording of" "$TMP/int.log" && echo 1) \
  "SIGINT: exit $RC, want 130: $(tail -c 400 "$TMP/int.log")"
ok $(stats_consistent "$TMP/int.json" 2>/dev/null && echo 1) "SIGINT: stats: $(cat "$TMP/int.json" 2>/dev/null)"
IN="$(field "$TMP/int.json" 'd["frames_in"]')"
REC="$(field "$TMP/int.json" 'd["frames_recorded"]')"
FRAMES="$(frames_of "$TMP/int.mp4")"
ok $([ "${FRAMES:-0}" -gt 0 ] && [ "$FRAMES" = "$REC" ] && [ "$IN" -lt 750 ] && echo 1) \
  "SIGINT: recording has ${FRAMES:-no} frames, stats say $REC of $IN in (want equal, > 0, fewer than 750 in)"
ok $(ffmpeg -v error -i "$TMP/int.mp4" -f null - 2>"$TMP/decode.log" && [ ! -s "$TMP/decode.log" ] && echo 1) \
  "SIGINT: the recording does not decode cleanly: $(head -c 300 "$TMP/decode.log")"
ok $([ "$(ls "$TMP" | grep -c '^int\.mp4')" = 1 ] && [ -z "$(ls -A "$TMP" | grep -vE '^(clip|long|out|int)\.mp4$|\.(json|log|err)$')" ] && echo 1) \
  "SIGINT: stray files: $(ls -A "$TMP")"

# 3. A pipe and a lavfi graph (libavdevice), paced as the file is.
# device_run NAME INPUT [STDIN-FILE]: runs live on INPUT; sets RC, IN, REC, FRAMES.
device_run() {
  local name="$1" input="$2" feed="${3:-/dev/null}"
  "$VIVIFY" live "$SOURCE" --input "$input" --output "$TMP/$name.mp4" --stats "$TMP/$name.json" <"$feed" 2>"$TMP/$name.log"
  RC=$?
  IN="$(field "$TMP/$name.json" 'd["frames_in"]')"
  REC="$(field "$TMP/$name.json" 'd["frames_recorded"]')"
  FRAMES="$(frames_of "$TMP/$name.mp4")"
}
device_run lavfi "lavfi:movie=$TMP/clip.mp4"
if [ "$RC" = 12 ] && grep -q "not supported in this build (built without libavdevice)" "$TMP/lavfi.log"; then
  echo "note: built without libavdevice: pipe and lavfi refused (exit 12), as they should be"
  DEVICES=0
else
  DEVICES=1
  ok $([ "$RC" = 0 ] && clean "$TMP/lavfi.log" && echo 1) "lavfi: exit $RC: $(tail -c 400 "$TMP/lavfi.log")"
  ok $(stats_consistent "$TMP/lavfi.json" 2>/dev/null && [ "$IN" = "$CLIP_FRAMES" ] && [ "${FRAMES:-0}" = "$IN" ]        && [ "$REC" = "$IN" ] && echo 1) "lavfi: frames_in $IN (clip $CLIP_FRAMES), recorded $REC, file ${FRAMES:-none}: $(cat "$TMP/lavfi.json")"
  ffmpeg -loglevel error -i "$TMP/clip.mp4" -an -c copy -f nut "$TMP/clip.nut"
  device_run pipe pipe: "$TMP/clip.nut"
  ok $([ "$RC" = 0 ] && clean "$TMP/pipe.log" && echo 1) "pipe: exit $RC: $(tail -c 400 "$TMP/pipe.log")"
  ok $(stats_consistent "$TMP/pipe.json" 2>/dev/null && [ "$IN" = "$CLIP_FRAMES" ] && [ "${FRAMES:-0}" = "$IN" ]        && [ "$REC" = "$IN" ] && echo 1) "pipe: frames_in $IN (clip $CLIP_FRAMES), recorded $REC, file ${FRAMES:-none}: $(cat "$TMP/pipe.json")"
  # Raw frames on the pipe, described by --input-format / --input-options.
  ffmpeg -loglevel error -i "$TMP/clip.mp4" -f rawvideo -pix_fmt yuv420p "$TMP/clip.yuv"
  "$VIVIFY" live "$SOURCE" --input pipe: --input-format rawvideo \
    --input-options video_size=256x256,pixel_format=yuv420p,framerate=25 --output "$TMP/raw.mp4" \
    --stats "$TMP/raw.json" <"$TMP/clip.yuv" 2>"$TMP/raw.log"
  RC=$?
  IN="$(field "$TMP/raw.json" 'd["frames_in"]')"
  ok $([ "$RC" = 0 ] && clean "$TMP/raw.log" && stats_consistent "$TMP/raw.json" 2>/dev/null && [ "$IN" = "$CLIP_FRAMES" ] \
       && [ "$(frames_of "$TMP/raw.mp4")" = "$IN" ] && echo 1) "raw pipe: exit $RC, frames_in $IN: $(tail -c 300 "$TMP/raw.log")"
  # SIGTERM while the pipe is open but idle (its writer silent): the read must not hold the
  # stop up; the recording so far is kept.
  mkfifo "$TMP/fifo"
  "$VIVIFY" live "$SOURCE" --input pipe: --output "$TMP/idle.mp4" --stats "$TMP/idle.json" <"$TMP/fifo" 2>"$TMP/idle.log" &
  PID=$!
  exec 3>"$TMP/fifo"
  cat "$TMP/clip.nut" >&3
  waited=0
  until grep -qE "^live: [0-9]+ in" "$TMP/idle.log"; do
    if ! kill -0 "$PID" 2>/dev/null || [ "$waited" -ge 600 ]; then break; fi
    sleep 0.1; waited=$((waited + 1))
  done
  sleep 4 # the 3 s clip has arrived; the pipe stays open and silent
  kill -TERM "$PID" 2>/dev/null
  waited=0
  while kill -0 "$PID" 2>/dev/null && [ "$waited" -lt 150 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$PID" 2>/dev/null; then
    kill -9 "$PID"; wait "$PID"; RC=hung
  else
    wait "$PID"; RC=$?
  fi
  PID=""
  exec 3>&-
  FRAMES="$(frames_of "$TMP/idle.mp4")"
  ok $([ "$RC" = 130 ] && clean "$TMP/idle.log" && [ "${FRAMES:-0}" -gt 0 ] && echo 1) \
    "idle pipe, SIGTERM: exit $RC (want 130 within 15 s), recording ${FRAMES:-none} frames: $(tail -c 300 "$TMP/idle.log")"
fi

# 4. The window, on SDL's dummy driver (no display here).
SDL_VIDEODRIVER=dummy "$VIVIFY" live "$SOURCE" --input "$TMP/clip.mp4" --window --stats "$TMP/win.json" 2>"$TMP/win.log"
RC=$?
if [ "$RC" = 12 ] && grep -q "built without SDL2" "$TMP/win.log"; then
  echo "note: built without SDL2: --window refused (exit 12), as it should be"
else
  IN="$(field "$TMP/win.json" 'd["frames_in"]')"
  ok $([ "$RC" = 0 ] && clean "$TMP/win.log" && grep -q -- "-> the window" "$TMP/win.log" && echo 1) \
    "window: exit $RC: $(tail -c 400 "$TMP/win.log")"
  ok $(stats_consistent "$TMP/win.json" 2>/dev/null && [ "$IN" = "$CLIP_FRAMES" ] && echo 1) \
    "window: frames_in $IN (clip $CLIP_FRAMES): $(cat "$TMP/win.json")"
  SDL_VIDEODRIVER=dummy "$VIVIFY" live "$SOURCE" --input "$TMP/clip.mp4" --window --output "$TMP/win.mp4" \
    --stats "$TMP/win2.json" 2>"$TMP/win2.log"
  RC=$?
  IN="$(field "$TMP/win2.json" 'd["frames_in"]')"
  FRAMES="$(frames_of "$TMP/win.mp4")"
  ok $([ "$RC" = 0 ] && clean "$TMP/win2.log" && stats_consistent "$TMP/win2.json" 2>/dev/null && [ "$IN" = "$CLIP_FRAMES" ] \
       && [ "${FRAMES:-0}" = "$IN" ] && echo 1) \
    "window + output: exit $RC, frames_in $IN, recording ${FRAMES:-none} frames: $(tail -c 300 "$TMP/win2.log")"
fi
rm -f "$TMP/bad.mp4"
env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER "$VIVIFY" live "$SOURCE" --input "$TMP/clip.mp4" --window 2>"$TMP/nodisplay.log"
RC=$?
ok $([ "$RC" = 12 ] && [ "$(grep -c . "$TMP/nodisplay.log")" = 1 ] && grep -qE "^vivify: .*(no display|without SDL2)" "$TMP/nodisplay.log" \
     && echo 1) "window without a display: exit $RC (want 12): $(head -c 300 "$TMP/nodisplay.log")"

# 5. Bad input: one line "vivify: ...", the exit code of its kind, no output.
# bad NAME WANT_RC PATTERN -- args...
bad() {
  local name="$1" want="$2" pattern="$3"; shift 4
  rm -f "$TMP/bad.mp4"
  "$VIVIFY" live "$@" <"${FEED:-/dev/null}" 2>"$TMP/bad.log"; local rc=$?
  local lines; lines="$(grep -c . "$TMP/bad.log")"
  ok $([ "$rc" = "$want" ] && [ "$lines" = 1 ] && grep -qE "^vivify: .*$pattern" "$TMP/bad.log" && [ ! -e "$TMP/bad.mp4" ] \
       && clean "$TMP/bad.log" && echo 1) "$name: exit $rc (want $want), $lines lines: $(head -c 300 "$TMP/bad.log")"
}
echo "not a video" >"$TMP/notes.txt"
ffmpeg -loglevel error -f lavfi -i "color=c=gray:s=256x256" -frames:v 1 "$TMP/blank.png"
bad "missing input" 3 "input not found: $TMP/missing.mp4" -- "$SOURCE" --input "$TMP/missing.mp4" -o "$TMP/bad.mp4"
bad "not a video" 5 "notes.txt is not a recognised video" -- "$SOURCE" --input "$TMP/notes.txt" -o "$TMP/bad.mp4"
bad "no camera" 3 "no camera at /dev/video-vivify-test" -- "$SOURCE" --input /dev/video-vivify-test -o "$TMP/bad.mp4"
if [ "$DEVICES" = 1 ]; then
  bad "bad lavfi graph" 2 "bad lavfi graph 'nosuchfilter'" -- "$SOURCE" --input "lavfi:nosuchfilter" -o "$TMP/bad.mp4"
  FEED="$TMP/clip.yuv" bad "misspelt input option" 2 "does not take 'video_sise'" -- "$SOURCE" --input pipe: \
    --input-format rawvideo --input-options video_sise=256x256 -o "$TMP/bad.mp4"
  bad "unknown input format" 2 "no such input format" -- "$SOURCE" --input pipe: --input-format nosuch -o "$TMP/bad.mp4"
  bad "input options on a file" 2 "not a file" -- "$SOURCE" --input "$TMP/clip.mp4" --input-format rawvideo -o "$TMP/bad.mp4"
  FEED="$TMP/notes.txt" bad "garbage on the pipe" 5 "pipe: is not a recognised video stream" -- "$SOURCE" --input pipe: -o "$TMP/bad.mp4"
else
  bad "lavfi unsupported" 12 "not supported in this build" -- "$SOURCE" --input "lavfi:testsrc" -o "$TMP/bad.mp4"
fi
bad "no output" 2 "--output" -- "$SOURCE" --input "$TMP/clip.mp4"
bad "no face" 8 "no face found in $TMP/blank.png" -- "$TMP/blank.png" --input "$TMP/clip.mp4" -o "$TMP/bad.mp4"
bad "missing portrait" 3 "file not found" -- "$TMP/none.png" --input "$TMP/clip.mp4" -o "$TMP/bad.mp4"
# --v4l2 without v4l2loopback: no such device (3), a file or a device that is no video device (2)
if [ ! -e /dev/video-vivify-test ]; then
  bad "v4l2: no device" 3 "--v4l2 /dev/video-vivify-test: no such device; .*v4l2loopback" -- "$SOURCE" --input "$TMP/clip.mp4" \
    --v4l2 /dev/video-vivify-test
fi
bad "v4l2: a file" 2 "--v4l2 $TMP/notes.txt: not a video device" -- "$SOURCE" --input "$TMP/clip.mp4" --v4l2 "$TMP/notes.txt"
bad "v4l2: /dev/null" 2 "--v4l2 /dev/null: not a video device" -- "$SOURCE" --input "$TMP/clip.mp4" --v4l2 /dev/null

# 6. Keys on a terminal (a pty; the window takes the same keys): every gain down to 0 stills
# the portrait (the rest of the recording barely moves, where the same run without keys
# does), n recalibrates, s with one portrait says so, q stops early with the recording kept.
cat >"$TMP/keys.py" <<'PY'
import os, pty, sys, time, select
vivify, source, clip, out, keys = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.execv(vivify, [vivify, "live", source, "--input", clip, "--output", out])
buf, typed, deadline = b"", False, time.time() + 300
while time.time() < deadline:
    if select.select([fd], [], [], 0.1)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    if not typed and b" out, " in buf:  # frames flow: type the keys
        for k in keys:
            os.write(fd, k.encode())
            time.sleep(0.02)
        typed = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace").replace("\r", "\n"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
# frame_psnr VIDEO A B: PSNR (dB) between frames A and B of VIDEO
frame_psnr() {
  ffmpeg -v error -i "$1" -vf "select=eq(n\,$2)" -frames:v 1 -y "$TMP/fa.png" && ffmpeg -v error -i "$1" -vf "select=eq(n\,$3)" -frames:v 1 -y "$TMP/fb.png" \
    && ffmpeg -i "$TMP/fa.png" -i "$TMP/fb.png" -lavfi psnr -f null - 2>&1 | sed -nE 's/.*average:([0-9.inf]+).*/\1/p'
}
python3 "$TMP/keys.py" "$VIVIFY" "$SOURCE" "$TMP/clip.mp4" "$TMP/k0.mp4" "" >"$TMP/k0.log" 2>&1
python3 "$TMP/keys.py" "$VIVIFY" "$SOURCE" "$TMP/clip.mp4" "$TMP/k1.mp4" "eeeeeeeeeeppppppppppiiiiiiiiiillllllllllns" >"$TMP/k1.log" 2>&1
RC=$?
ok $([ "$RC" = 0 ] && grep -q "^live: keys: n neutral" "$TMP/k1.log" \
     && grep -q "^live: lips: expression 0.00, head 0.00, eyes 0.00, lips 0.00; portrait 1" "$TMP/k1.log" \
     && grep -q "^live: the next face is the neutral" "$TMP/k1.log" && grep -q "^live: one portrait: nothing to switch to" "$TMP/k1.log" \
     && clean "$TMP/k1.log" && echo 1) "keys: exit $RC: $(grep '^live: ' "$TMP/k1.log" | grep -v ' in, ' | tail -5)"
P0="$(frame_psnr "$TMP/k0.mp4" 40 70)"; P1="$(frame_psnr "$TMP/k1.mp4" 40 70)"
ok $(awk -v a="${P0:-99}" -v b="${P1:-0}" 'BEGIN { exit !(a < 35 && (b == "inf" || b > 40)) }' && echo 1) \
  "keys: frames 40 and 70 apart by ${P0:-?} dB without keys (want < 35), ${P1:-?} dB with every gain 0 (want > 40)"
python3 "$TMP/keys.py" "$VIVIFY" "$SOURCE" "$TMP/long.mp4" "$TMP/k2.mp4" "q" >"$TMP/k2.log" 2>&1
RC=$?
FRAMES="$(frames_of "$TMP/k2.mp4")"
ok $([ "$RC" = 0 ] && [ "${FRAMES:-0}" -gt 0 ] && [ "${FRAMES:-0}" -lt 300 ] && echo 1) \
  "q: exit $RC, the recording ${FRAMES:-missing} frames (want some, fewer than the 750 of the input)"

echo "cli_live: $passed passed, $failed failed in $(($(date +%s) - START)) s"
[ "$failed" = 0 ]
