#!/usr/bin/env bash
# vivify serve's live sessions over loopback with curl (the protocol behind the page's Live
# tab, docs/API.md): POST /api/live starts one (the portrait), POST /api/live/ID/frame
# answers each JPEG camera frame with the animated frame (a JPEG of the portrait's size,
# X-Vivify-Face, X-Vivify-Worker-Ms); the frames of a moving clip give moving output and the
# round trip is measured; one session per server (409); frames that are not JPEG (415),
# broken (400), too large in bytes or pixels (413), too fast (429) are refused while the
# session goes on; a portrait without a face (422), a driving file, an engine live has not
# (400); POST /api/live/ID/recalibrate makes the next face the neutral; DELETE ends it (404 after), an idle session ends by itself, a worker that dies
# ends its session with a clear 500 and frees the place; --live-sessions 0 refuses; the
# server's temp folder empty after stop.
# usage: cli_serve_live.sh PATH/TO/vivify
set -u
VIVIFY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
command -v curl >/dev/null || { echo "SKIPPED: no curl"; exit 77; }
command -v ffmpeg >/dev/null || { echo "SKIPPED: no ffmpeg"; exit 77; }
command -v python3 >/dev/null || { echo "SKIPPED: no python3"; exit 77; }
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json facemesh.json selfie.json dlib; do
  model_present "$m" || { echo "SKIPPED: $m not present (./dev setup)"; exit 77; }
done
START=$(date +%s)
passed=0
failed=0
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1" 2>/dev/null || echo missing; }

# The camera: Grace Hopper rolling and zooming, 320x320, 50 JPEG frames (25 fps, 2 s).
mkdir -p "$TMP/frames"
ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/grace_hopper.jpg" -filter_complex \
  "[0:v]scale=512:-2,zoompan=z='1+0.1*sin(on/8)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=320x320:fps=25,rotate='0.2*sin(t*2.5)':fillcolor=gray" \
  -t 2 -q:v 4 "$TMP/frames/f%03d.jpg"
[ -s "$TMP/frames/f050.jpg" ] || { echo "SKIPPED: could not make the frames"; exit 77; }
SRC="$ROOT/examples/mona_lisa.png" # 500x756
ffmpeg -loglevel error -f lavfi -i "testsrc=size=160x120:duration=1" -frames:v 1 "$TMP/noface.png"
ffmpeg -loglevel error -i "$TMP/frames/f001.jpg" -vf scale=1400:1400 "$TMP/wide.jpg"          # over 1280 a side
ffmpeg -loglevel error -i "$TMP/frames/f001.jpg" -vf scale=1280:1280 -q:v 8 "$TMP/wide_ok.jpg" # the largest allowed: a slow frame
ffmpeg -loglevel error -i "$TMP/frames/f001.jpg" "$TMP/frame.png"                              # not a JPEG
head -c 2000 "$TMP/frames/f001.jpg" > "$TMP/cut.jpg"                                          # broken
{ printf '\xff\xd8\xff'; head -c 1200000 /dev/urandom; } > "$TMP/huge.jpg"                     # over 1 MB

start_server() {
  local name="$1"; shift
  (cd "$ROOT" && exec "$VIVIFY" serve --port 0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err") &
  PID=$!
  SERVER_PIDS+=("$PID")
  URL=""
  # up to 30 s: under the sanitizers with the other tests running, a start after the last
  # server's stop once took over 10 s (the next request then had no URL: code 000)
  for _ in $(seq 300); do
    URL="$(grep -o 'http://[^ ]*' "$TMP/$name.out" 2>/dev/null)"
    [ -n "$URL" ] && break
    sleep 0.1
  done
  URL="${URL%/}"
}
# post_frame ID FILE OUT: prints the HTTP status and the total time
post_frame() { curl -s -o "$3" -D "$3.h" -w '%{http_code} %{time_total}' --data-binary @"$2" -H 'Content-Type: image/jpeg' "$URL/api/live/$1/frame"; }
start() { curl -s -o "$TMP/$1.json" -w '%{http_code}' "${@:2}" "$URL/api/live"; }
workers() { pgrep -f -- "--live-worker $TMP/work" | wc -l; }

mkdir -p "$TMP/work"
start_server main --temp "$TMP/work" --live-idle-s 3
ok $([ -n "$URL" ] && echo 1) "server did not start: $(cat "$TMP/main.err")"

# the config says the limits
curl -s "$URL/api/config" > "$TMP/config.json"
ok $([ "$(field "$TMP/config.json" "['live']['sessions']")" = 1 ] && [ "$(field "$TMP/config.json" "['live']['max_frame_side']")" = 1280 ] \
     && [ "$(field "$TMP/config.json" "['live']['max_fps']")" = 30 ] && echo 1) "config live: $(cat "$TMP/config.json")"

# 1. refused starts: no face, a driving file, an engine live has not, a text file
CODE=$(start noface -F source=@"$TMP/noface.png")
ok $([ "$CODE" = 422 ] && grep -q 'no face found' "$TMP/noface.json" && echo 1) "no-face portrait: $CODE $(cat "$TMP/noface.json")"
CODE=$(start drv -F source=@"$SRC" -F driving=@"$TMP/frame.png")
ok $([ "$CODE" = 400 ] && grep -q "the camera is the driver" "$TMP/drv.json" && echo 1) "driving file: $CODE $(cat "$TMP/drv.json")"
CODE=$(start eng -F source=@"$SRC" -F engine=fsth)
ok $([ "$CODE" = 400 ] && grep -q "live engine must be warp or warp2d" "$TMP/eng.json" && echo 1) "engine: $CODE $(cat "$TMP/eng.json")"
CODE=$(start motion -F source=@"$SRC" -F motion=talk)
ok $([ "$CODE" = 400 ] && grep -q "not 'motion'" "$TMP/motion.json" && echo 1) "motion: $CODE $(cat "$TMP/motion.json")"
CODE=$(start text -F source=@"$0")
ok $([ "$CODE" = 415 ] && echo 1) "a text file as the portrait: $CODE $(cat "$TMP/text.json")"
ok $([ "$(workers)" = 0 ] && echo 1) "refused starts left $(workers) workers"

# 2. a session: every frame answered with the animated portrait, moving; the round trip
CODE=$(start s1 -F source=@"$SRC" -F eyes=1.5 -F lips=1)
ID="$(field "$TMP/s1.json" "['id']")"
ok $([ "$CODE" = 201 ] && [ "$(field "$TMP/s1.json" "['width']")" = 500 ] && [ "$(field "$TMP/s1.json" "['height']")" = 756 ] && echo 1) \
  "start: $CODE $(cat "$TMP/s1.json")"
: > "$TMP/rtt.txt"
mkdir -p "$TMP/out"
for f in "$TMP"/frames/f*.jpg; do
  n="$(basename "$f" .jpg)"
  R="$(post_frame "$ID" "$f" "$TMP/out/$n.jpg")"
  echo "$R $(sed -nE 's/^X-Vivify-Worker-Ms: ([0-9.]+).*/\1/p' "$TMP/out/$n.jpg.h" | tr -d '\r') $(sed -nE 's/^X-Vivify-Face: ([01]).*/\1/p' "$TMP/out/$n.jpg.h" | tr -d '\r')" >> "$TMP/rtt.txt"
  sleep 0.04 # about 25 frames a second, as a camera (under the 30/s limit)
done
python3 - "$TMP/rtt.txt" "$TMP/out" > "$TMP/summary.txt" 2>&1 <<'EOF'
import sys, os, subprocess
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
codes = [r[0] for r in rows]
rtt = sorted(float(r[1]) * 1000 for r in rows if r[0] == "200")
worker = sorted(float(r[2]) for r in rows if r[0] == "200" and len(r) > 2)
faces = sum(1 for r in rows if len(r) > 3 and r[3] == "1")
pct = lambda v, p: v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))] if v else -1
print("codes", " ".join(sorted(set(codes))), "ok", codes.count("200"), "faces", faces)
print("rtt p50 %.1f p95 %.1f max %.1f worker p50 %.1f p95 %.1f" % (pct(rtt, 50), pct(rtt, 95), rtt[-1] if rtt else -1, pct(worker, 50), pct(worker, 95)))
EOF
cat "$TMP/summary.txt"
ok $(grep -q '^codes 200 ok 50 faces 50$' "$TMP/summary.txt" && echo 1) "frames: $(head -1 "$TMP/summary.txt")"
SIZE="$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$TMP/out/f050.jpg" 2>/dev/null)"
ok $([ "$SIZE" = "500,756" ] && echo 1) "answer size $SIZE"
# the portrait moves with the camera: frames 10 and 30 differ (the head rolled), frame 1 and
# the portrait itself stay close (the first frame is the reference: no motion yet)
psnr() { ffmpeg -loglevel error -i "$1" -i "$2" -lavfi "[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr" -f null - 2>&1 | sed -nE 's/.*average:([0-9.inf]+).*/\1/p'; }
P_MOVE="$(ffmpeg -i "$TMP/out/f010.jpg" -i "$TMP/out/f030.jpg" -lavfi psnr -f null - 2>&1 | sed -nE 's/.*average:([0-9.]+).*/\1/p')"
P_REST="$(ffmpeg -i "$TMP/out/f001.jpg" -i "$SRC" -lavfi "[1:v]format=yuv420p[b];[0:v][b]psnr" -f null - 2>&1 | sed -nE 's/.*average:([0-9.]+).*/\1/p')"
ok $(awk -v m="${P_MOVE:-99}" -v r="${P_REST:-0}" 'BEGIN { exit !(m < 30 && r > 30 && r > m + 5) }' && echo 1) \
  "motion: PSNR frame 10 vs 30 ${P_MOVE:-?} dB (want < 30), frame 1 vs the portrait ${P_REST:-?} dB (want > 30)"

# 3. one session per server: a second is refused before its upload, and while frames flow
CODE=$(start s2 -F source=@"$SRC")
ok $([ "$CODE" = 409 ] && grep -q 'busy: another live session is running on this server' "$TMP/s2.json" && echo 1) \
  "second session: $CODE $(cat "$TMP/s2.json")"

# 4. bad frames are refused; the session goes on
R=$(post_frame "$ID" "$TMP/frame.png" "$TMP/bad1"); ok $([ "${R%% *}" = 415 ] && grep -q 'must be a JPEG' "$TMP/bad1" && echo 1) "PNG frame: $R $(cat "$TMP/bad1")"
R=$(post_frame "$ID" "$TMP/cut.jpg" "$TMP/bad2"); ok $([ "${R%% *}" = 400 ] && grep -q 'not a readable JPEG' "$TMP/bad2" && echo 1) "cut JPEG: $R $(cat "$TMP/bad2")"
R=$(post_frame "$ID" "$TMP/wide.jpg" "$TMP/bad3"); ok $([ "${R%% *}" = 413 ] && grep -q '1400x1400 pixels; live frames are at most 1280' "$TMP/bad3" && echo 1) "1400 px frame: $R $(cat "$TMP/bad3")"
R=$(post_frame "$ID" "$TMP/huge.jpg" "$TMP/bad4"); ok $([ "${R%% *}" = 413 ] && grep -q 'at most 1024 KB' "$TMP/bad4" && echo 1) "1.2 MB frame: $R $(cat "$TMP/bad4")"
R=$(curl -s -o "$TMP/bad5" -w '%{http_code}' -X POST "$URL/api/live/$ID/frame"); ok $([ "$R" = 400 ] && grep -q 'empty frame' "$TMP/bad5" && echo 1) "empty frame: $R $(cat "$TMP/bad5")"
# chunked, without a Content-Length, past the cap: cut while it arrives
R=$(curl -s -o "$TMP/bad6" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/huge.jpg" "$URL/api/live/$ID/frame")
ok $([ "$R" = 413 ] && echo 1) "chunked 1.2 MB frame: $R $(cat "$TMP/bad6")"
R=$(post_frame "0123456789abcdef0123456789abcdef" "$TMP/frames/f001.jpg" "$TMP/bad7"); ok $([ "${R%% *}" = 404 ] && echo 1) "unknown session: $R"
R=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/live/$ID"); ok $([ "$R" = 405 ] && echo 1) "GET on a session: $R"
R=$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/live/$ID/other"); ok $([ "$R" = 404 ] && echo 1) "other path: $R"
# too fast: 12 frames at once: some are refused with 429 (one at a time, at most 30 a second)
BURST=()
for i in $(seq 12); do
  curl -s -o /dev/null -w '%{http_code}\n' --data-binary @"$TMP/frames/f020.jpg" "$URL/api/live/$ID/frame" >> "$TMP/burst.txt" &
  BURST+=($!)
done
wait "${BURST[@]}" # (not the server)
N200=$(grep -c '^200$' "$TMP/burst.txt"); N429=$(grep -c '^429$' "$TMP/burst.txt")
ok $([ "$N200" -ge 1 ] && [ "$N429" -ge 1 ] && [ $((N200 + N429)) = 12 ] && echo 1) "burst of 12: $N200 answered, $N429 too fast ($(sort "$TMP/burst.txt" | uniq -c | tr '\n' ' '))"
R=$(post_frame "$ID" "$TMP/frames/f005.jpg" "$TMP/after"); ok $([ "${R%% *}" = 200 ] && echo 1) "a good frame after the bad ones: $R"

# recalibrate: the rolled, zoomed face of frame 10 becomes the neutral: the portrait at rest for it
sleep 0.5 # the rate limit's bucket refills after the burst
R=$(curl -s -o "$TMP/recal" -w '%{http_code}' -X POST "$URL/api/live/$ID/recalibrate")
R1=$(post_frame "$ID" "$TMP/frames/f010.jpg" "$TMP/r10.jpg"); sleep 0.1
R2=$(post_frame "$ID" "$TMP/frames/f010.jpg" "$TMP/r10b.jpg")
R="$R ${R1%% *} ${R2%% *}"
P_NEW="$(ffmpeg -i "$TMP/r10b.jpg" -i "$TMP/out/f001.jpg" -lavfi psnr -f null - 2>&1 | sed -nE 's/.*average:([0-9.]+|inf).*/\1/p')"
P_OLD="$(ffmpeg -i "$TMP/out/f010.jpg" -i "$TMP/out/f001.jpg" -lavfi psnr -f null - 2>&1 | sed -nE 's/.*average:([0-9.]+|inf).*/\1/p')"
ok $([ "$R" = "204 200 200" ] && awk -v n="${P_NEW:-0}" -v o="${P_OLD:-99}" 'BEGIN { exit !((n == "inf" || n > o + 5) && (n == "inf" || n > 30)) }' && echo 1) \
  "recalibrate: $R; frame 10 after it ${P_NEW:-?} dB from the portrait at rest (before: ${P_OLD:-?} dB)"
R=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/live/0123456789abcdef0123456789abcdef/recalibrate")
ok $([ "$R" = 404 ] && echo 1) "recalibrate an unknown session: $R"
# recalibrate while a frame is on its way (the page's button while the camera streams): it
# waits its turn, 204, where it was refused with 429
sleep 0.3
post_frame "$ID" "$TMP/wide_ok.jpg" "$TMP/inflight.jpg" > "$TMP/inflight.txt" &
INFLIGHT=$!
sleep 0.02
R=$(curl -s -o "$TMP/recal2" -w '%{http_code}' -X POST "$URL/api/live/$ID/recalibrate")
wait "$INFLIGHT"
ok $([ "$R" = 204 ] && [ "$(cut -d' ' -f1 "$TMP/inflight.txt")" = 200 ] && echo 1) \
  "recalibrate beside a frame in flight: $R $(cat "$TMP/recal2") (the frame: $(cat "$TMP/inflight.txt"))"

# 5. DELETE ends it: its worker gone, 404 after, and a new session can start
R=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/api/live/$ID"); ok $([ "$R" = 204 ] && echo 1) "DELETE: $R"
R=$(post_frame "$ID" "$TMP/frames/f001.jpg" "$TMP/gone"); ok $([ "${R%% *}" = 404 ] && echo 1) "a frame after DELETE: $R"
sleep 0.3
ok $([ "$(workers)" = 0 ] && echo 1) "workers after DELETE: $(workers)"

# 6. a worker that dies: its session answers a clear 500 and the place is free again
CODE=$(start s3 -F source=@"$SRC"); ID="$(field "$TMP/s3.json" "['id']")"
WPID="$(pgrep -f -- "--live-worker $TMP/work" | head -1)"
[ -n "$WPID" ] && kill -9 "$WPID"
sleep 0.2
R=$(post_frame "$ID" "$TMP/frames/f001.jpg" "$TMP/dead"); ok $([ "$CODE" = 201 ] && [ "${R%% *}" = 500 ] && grep -q 'the live session stopped' "$TMP/dead" && echo 1) "a dead worker: $CODE, $R $(cat "$TMP/dead")"
CODE=$(start s4 -F source=@"$SRC"); ID="$(field "$TMP/s4.json" "['id']")"
ok $([ "$CODE" = 201 ] && echo 1) "a session after the dead one: $CODE $(cat "$TMP/s4.json")"

# 7. idle: a session without frames for --live-idle-s (3 s) ends by itself
R=$(post_frame "$ID" "$TMP/frames/f001.jpg" "$TMP/idle0"); sleep 4.5
R2=$(post_frame "$ID" "$TMP/frames/f001.jpg" "$TMP/idle1")
ok $([ "${R%% *}" = 200 ] && [ "${R2%% *}" = 404 ] && grep -q 'idle for over 3 s' "$TMP/idle1" && [ "$(workers)" = 0 ] && echo 1) \
  "idle session: $R then $R2 $(cat "$TMP/idle1"); workers $(workers)"

# 8. stop: every folder gone
kill "$PID"; wait "$PID" 2>/dev/null
ok $([ -z "$(ls -A "$TMP/work")" ] && echo 1) "temp folder after stop: $(ls -A "$TMP/work")"
ok $(! grep -qE "AddressSanitizer|runtime error" "$TMP/main.err" && echo 1) "sanitizer: $(grep -m3 -E 'AddressSanitizer|runtime error' "$TMP/main.err")"

# 9. --live-sessions 0: refused
start_server off --live-sessions 0
CODE=$(start off -F source=@"$SRC")
# (its URL, output and errors in the message: once, in a fresh-clone run, this request got no
# answer at all, code 000, and the folder with the server's errors was gone; six runs after it,
# two at a time beside a training run, passed)
ok $([ "$CODE" = 409 ] && grep -q 'turned off' "$TMP/off.json" && echo 1) \
  "live off: $CODE $(cat "$TMP/off.json") URL [$URL] out [$(cat "$TMP/off.out")] err [$(head -c 2000 "$TMP/off.err")]"

echo "cli_serve_live: $passed passed, $failed failed in $(( $(date +%s) - START )) s"
[ "$failed" = 0 ]
