#!/usr/bin/env bash
# vivify serve over loopback with curl: the page, the JSON API's happy paths (motion, driving
# video with audio, GIF, ranges, the animation options reaching `vivify animate`), every
# error it answers, cancellation, 429 when the queue
# is full, temp files gone after delete and stop, and a bounded load test (10 queued jobs,
# 50 concurrent status polls, nothing lost).  What the page needs (issue 18 item 15): the
# faces of a two-face portrait (POST /api/faces) and the `face` field animating the one
# picked, download names from the inputs, `audio`, every engine (fsth and hybrid with the
# shipped models: the server runs in the checkout), a face-less driver's own message, the
# example portraits.
# usage: cli_serve.sh PATH/TO/vivify
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
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
command -v node >/dev/null || { echo "SKIPPED: no node (reads the motions JSON)"; exit 77; }
START=$(date +%s)
passed=0
failed=0
# ok CONDITION MESSAGE: CONDITION is "1" or empty (then only MESSAGE arrives)
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
# json FILE EXPRESSION: prints the JS expression evaluated on the parsed file (as `j`)
json() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = ('"$2"'); console.log(typeof v === "object" ? JSON.stringify(v) : String(v));' "$1" 2>/dev/null || echo "(not JSON)"; }
. "$ROOT/tests/lib/serve_jobs.sh"
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
has_audio() { [ -n "$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1")" ]; }

# Inputs: a small portrait; the portrait held still 1 s at 10 fps with a tone; a face-less
# image; a text file; a PNG named like a video and a video named like an image; 3 MB of noise.
SRC="$TMP/portrait.png"
ffmpeg -loglevel error -i "$ROOT/examples/mona_lisa.png" -vf "scale=256:-2" "$SRC"
ffmpeg -loglevel error -loop 1 -i "$SRC" -f lavfi -i "sine=frequency=300:duration=1" -t 1 -r 10 \
  -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/driver.mp4"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=160x120:duration=1" -frames:v 1 "$TMP/noface.png"
[ -s "$SRC" ] && [ -s "$TMP/driver.mp4" ] && [ -s "$TMP/noface.png" ] || { echo "SKIPPED: could not make inputs"; exit 77; }
echo "just some text" > "$TMP/notes.txt"
cp "$SRC" "$TMP/looks_like_video.mp4"
cp "$TMP/driver.mp4" "$TMP/looks_like_image.png"
head -c 3145728 /dev/urandom > "$TMP/big.bin"

# start_server LOGNAME ARGS...: sets URL and PID.  It runs in the checkout, where the shipped
# models (models/, for --engine fsth / hybrid) are found.
start_server() {
  local name="$1"; shift
  (cd "$ROOT" && exec "$VIVIFY" serve --port 0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err") &
  PID=$!
  SERVER_PIDS+=("$PID")
  URL=""
  for _ in $(seq 100); do
    URL="$(grep -o 'http://[^ ]*' "$TMP/$name.out" 2>/dev/null)"
    [ -n "$URL" ] && break
    sleep 0.1
  done
  URL="${URL%/}"
}
code_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

mkdir -p "$TMP/work"
start_server main --jobs 2 --queue 12 --max-upload-mb 2 --temp "$TMP/work"
[ -n "$URL" ] || { echo "FAIL: server did not start: $(cat "$TMP/main.err")"; exit 1; }
ok $(grep -q '^http://127.0.0.1:' <<<"$URL/" && echo 1) "binds 127.0.0.1 by default: $URL"

# --- the page
curl -s -D "$TMP/h" -o "$TMP/index.html" "$URL/"
ok $(grep -qi '^content-type: text/html' "$TMP/h" && grep -q 'id="source-drop"' "$TMP/index.html" && echo 1) "GET / is the page"
ok $(grep -qi "^content-security-policy: default-src 'self'" "$TMP/h" && echo 1) "GET / has a content security policy"
ok $([ "$(code_of "$URL/app.js")" = 200 ] && [ "$(code_of "$URL/style.css")" = 200 ] && echo 1) "app.js, style.css"
curl -s "$URL/api/motions" -o "$TMP/motions.json"
ok $([ "$(json "$TMP/motions.json" 'j.motions.map(m => m.name).join(",")')" = "talk,blink,nod,smile,surprise" ] && echo 1) \
  "GET /api/motions names: $(json "$TMP/motions.json" 'j.motions.map(m => m.name)')"
ok $([ "$(json "$TMP/motions.json" 'j.motions.every(m => m.frames.length > 10 && m.frames.every(f => f.length == 136))')" = true ] && echo 1) \
  "motion previews: 68 points a frame"
curl -s "$URL/api/config" -o "$TMP/config.json"
ok $([ "$(json "$TMP/config.json" '[j.engines, j.backgrounds, j.modes, j.formats].map(a => a.join("/")).join(",")')" \
       = "warp/warp2d/fsth/hybrid,still/move,relative/absolute,mp4/gif" ] && echo 1) "GET /api/config lists: $(cat "$TMP/config.json")"
# the example portraits the page offers, served from the binary as shipped
for example in mona_lisa.png:image/png grace_hopper.jpg:image/jpeg; do
  curl -s -D "$TMP/h" -o "$TMP/example" "$URL/examples/${example%%:*}"
  ok $(grep -qi "^content-type: ${example#*:}" "$TMP/h" && cmp -s "$TMP/example" "$ROOT/examples/${example%%:*}" && echo 1) \
    "GET /examples/${example%%:*}: $(head -1 "$TMP/h")"
done

# --- happy paths
post 202 motion -F "source=@$SRC" -F motion=nod -F duration=0.4 -F expression_scale=1.5 -F pose_scale=0.5
ID="$(field "$TMP/motion.json" id)"
ok $(grep -qE '^[0-9a-f]{32}$' <<<"$ID" && echo 1) "job id is 32 hex digits: $ID"
curl -s "$URL/api/jobs/$ID" -o "$TMP/first.json"
ok $(grep -qE '^(queued|running|done)$' <<<"$(field "$TMP/first.json" state)" && echo 1) "status right away: $(cat "$TMP/first.json")"
ok $([ "$(wait_job "$ID" 60)" = done ] && echo 1) "motion job done: $(cat "$TMP/status.json")"
ok $([ "$(field "$TMP/status.json" progress),$(field "$TMP/status.json" error),$(field "$TMP/status.json" eta_s),$(field "$TMP/status.json" searching)" = "1,null,0,false" ] \
     && grep -qE '^[0-9.]+$' <<<"$(field "$TMP/status.json" fps)" && echo 1) \
  "done status fields: $(cat "$TMP/status.json")"
curl -s -D "$TMP/h" -o "$TMP/motion.mp4" "$URL/api/jobs/$ID/result"
ok $(grep -qi '^content-type: video/mp4' "$TMP/h" && echo 1) "result is video/mp4"
ok $([ "$(frames_of "$TMP/motion.mp4")" = 10 ] && echo 1) "motion result: $(frames_of "$TMP/motion.mp4") frames, want 10"
ok $([ "$(field "$TMP/status.json" filename),$(field "$TMP/status.json" audio)" = "portrait-nod-warp.mp4,false" ] \
     && grep -qi '^content-disposition: inline; filename="portrait-nod-warp.mp4"' "$TMP/h" && echo 1) \
  "motion job: download name from the inputs, no sound: $(cat "$TMP/status.json"); $(grep -i disposition "$TMP/h")"
# ranges (what a <video> element asks for)
code="$(curl -s -o "$TMP/part" -w '%{http_code}' -H 'Range: bytes=100-199' "$URL/api/jobs/$ID/result")"
ok $([ "$code" = 206 ] && cmp -s "$TMP/part" <(tail -c +101 "$TMP/motion.mp4" | head -c 100) && echo 1) "Range 100-199: $code"
ok $([ "$(code_of -H 'Range: bytes=99999999-' "$URL/api/jobs/$ID/result")" = 416 ] && echo 1) "unsatisfiable range: 416"

post 202 driven -F "source=@$SRC" -F "driving=@$TMP/driver.mp4" -F mode=absolute -F compare=true
ID2="$(field "$TMP/driven.json" id)"
post 202 gif -F "source=@$SRC" -F motion=blink -F duration=0.2 -F format=gif -F engine=warp
ID3="$(field "$TMP/gif.json" id)"
ok $([ "$(wait_job "$ID2" 90)" = done ] && echo 1) "driving video job done: $(cat "$TMP/status.json")"
curl -s -o "$TMP/driven.mp4" "$URL/api/jobs/$ID2/result"
ok $([ "$(frames_of "$TMP/driven.mp4")" = 10 ] && echo 1) "driven result: $(frames_of "$TMP/driven.mp4") frames, want the driver's 10"
ok $(has_audio "$TMP/driven.mp4" && echo 1) "driven result carries the driver's audio"
ok $([ "$(field "$TMP/status.json" audio),$(field "$TMP/status.json" filename)" = "true,portrait-driver-warp-compare.mp4" ] && echo 1) \
  "driven status says it has sound, and its download name: $(cat "$TMP/status.json")"
ok $([ "$(wait_job "$ID3" 60)" = done ] && echo 1) "gif job done: $(cat "$TMP/status.json")"
curl -s -D "$TMP/h" -o "$TMP/result.gif" "$URL/api/jobs/$ID3/result"
ok $(grep -qi '^content-type: image/gif' "$TMP/h" && [ "$(head -c 6 "$TMP/result.gif")" = GIF89a ] && echo 1) "gif result"
# the animation options: the 2D warp engine, eye and lip gains at both ends, a moving background
post 202 options -F "source=@$SRC" -F motion=blink -F duration=0.2 -F engine=warp2d -F eyes=0 -F lips=3 -F background=move
ID4="$(field "$TMP/options.json" id)"
ok $([ "$(wait_job "$ID4" 60)" = done ] && echo 1) "warp2d job with eyes, lips, background done: $(cat "$TMP/status.json")"
curl -s -o "$TMP/options.mp4" "$URL/api/jobs/$ID4/result"
ok $([ "$(frames_of "$TMP/options.mp4")" = 5 ] && echo 1) "warp2d result: $(frames_of "$TMP/options.mp4") frames, want 5"

# --- each error
err() { field "$TMP/$1.json" error; }
post 400 e_nosource -F motion=nod
ok $(err e_nosource | grep -q "no portrait" && echo 1) "no source: $(err e_nosource)"
post 400 e_nomotion -F "source=@$SRC"
post 400 e_both -F "source=@$SRC" -F motion=nod -F "driving=@$TMP/driver.mp4"
post 400 e_motion -F "source=@$SRC" -F motion=moonwalk
ok $(err e_motion | grep -q "unknown motion 'moonwalk' (built-in: talk,blink" && echo 1) "unknown motion: $(err e_motion)"
post 400 e_mode -F "source=@$SRC" -F motion=nod -F mode=sideways
post 400 e_format -F "source=@$SRC" -F motion=nod -F format=avi
post 400 e_scale -F "source=@$SRC" -F motion=nod -F expression_scale=abc
post 400 e_scale_range -F "source=@$SRC" -F motion=nod -F pose_scale=11
post 400 e_duration -F "source=@$SRC" -F motion=nod -F duration=0.01
post 400 e_compare -F "source=@$SRC" -F motion=nod -F compare=maybe
post 400 e_engine -F "source=@$SRC" -F motion=nod -F engine=gan
ok $([ "$(err e_engine)" = "unknown engine 'gan' (available: warp, warp2d, fsth, hybrid)" ] && echo 1) "unknown engine: $(err e_engine)"
# the learned engines run with the shipped models, each giving its own result
for engine in warp fsth hybrid; do
  post 202 "engine_$engine" -F "source=@$SRC" -F motion=blink -F duration=0.2 -F engine=$engine
  id="$(field "$TMP/engine_$engine.json" id)"
  ok $([ "$(wait_job "$id" 90)" = done ] && [ "$(field "$TMP/status.json" filename)" = "portrait-blink-$engine.mp4" ] && echo 1) \
    "engine $engine job done: $(cat "$TMP/status.json")"
  curl -s -o "$TMP/engine_$engine.mp4" "$URL/api/jobs/$id/result"
  curl -s -o /dev/null -X DELETE "$URL/api/jobs/$id"
done
ok $([ "$(frames_of "$TMP/engine_fsth.mp4")" = 5 ] && [ "$(frames_of "$TMP/engine_hybrid.mp4")" = 5 ] \
     && ! cmp -s "$TMP/engine_warp.mp4" "$TMP/engine_fsth.mp4" && ! cmp -s "$TMP/engine_fsth.mp4" "$TMP/engine_hybrid.mp4" \
     && ! cmp -s "$TMP/engine_warp.mp4" "$TMP/engine_hybrid.mp4" && echo 1) "the engine asked for is the engine used (three different results)"
post 400 e_engine_model -F "source=@$SRC" -F motion=nod -F engine=fsth -F engine=warp
ok $([ "$(err e_engine_model)" = "more than one 'engine' field" ] && echo 1) "engine twice: $(err e_engine_model)"
# eyes / lips: numbers 0..3 (animate's --eyes / --lips), strictly parsed; background still|move
for bad_value in "eyes=-1" "eyes=4" "eyes=abc" "eyes=1x" "eyes=nan" "eyes=inf" "lips=3.5" "lips=-0.01" "lips=1,5" "lips=1e9"; do
  name="${bad_value%%=*}" value="${bad_value#*=}"
  post 400 "e_$name" -F "source=@$SRC" -F motion=nod -F "$bad_value"
  ok $([ "$(err "e_$name")" = "$name must be a number from 0 to 3, not '$value'" ] && echo 1) "$bad_value: $(err "e_$name")"
done
post 400 e_background -F "source=@$SRC" -F motion=nod -F background=sideways
ok $([ "$(err e_background)" = "background must be still or move, not 'sideways'" ] && echo 1) "background: $(err e_background)"
post 400 e_eyes_twice -F "source=@$SRC" -F motion=nod -F eyes=1 -F eyes=2
ok $([ "$(err e_eyes_twice)" = "more than one 'eyes' field" ] && echo 1) "eyes twice: $(err e_eyes_twice)"
post 400 e_field -F "source=@$SRC" -F motion=nod -F path=../../etc/passwd
ok $(err e_field | grep -q "eyes, lips, background" && echo 1) "unknown field lists the fields: $(err e_field)"
post 400 e_twice -F "source=@$SRC" -F "source=@$SRC" -F motion=nod
post 415 e_text -F "source=@$TMP/notes.txt" -F motion=nod
ok $(err e_text | grep -q "unsupported file: the portrait must be a PNG or JPEG image (this is a text file)" && echo 1) "text: $(err e_text)"
post 415 e_video_as_image -F "source=@$TMP/looks_like_image.png" -F motion=nod
ok $(err e_video_as_image | grep -q "MP4/MOV video" && echo 1) "sniffed, not named: $(err e_video_as_image)"
post 415 e_image_as_video -F "source=@$SRC" -F "driving=@$TMP/looks_like_video.mp4"
ok $(err e_image_as_video | grep -q "driving video must be" && echo 1) "image as driver: $(err e_image_as_video)"
post 413 e_big -F "source=@$TMP/big.bin" -F motion=nod
ok $(err e_big | grep -q "too large: uploads are limited to 2 MB" && echo 1) "too large: $(err e_big)"
# a portrait declaring 16384x16384 pixels in 33 bytes: refused before anything decodes it
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x40\x00\x00\x00\x40\x00\x08\x02\x00\x00\x00\x00\x00\x00\x00' >"$TMP/huge.png"
post 413 e_huge -F "source=@$TMP/huge.png" -F motion=nod
ok $([ "$(err e_huge)" = "the portrait is 16384x16384 pixels (268 megapixels); this server takes portraits of up to 30 megapixels: scale it down first" ] \
     && echo 1) "huge portrait: $(err e_huge)"
code="$(curl -s -o "$TMP/e_chunked.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' -F "source=@$TMP/big.bin" -F motion=nod "$URL/api/jobs")"
ok $([ "$code" = 413 ] && echo 1) "too large without Content-Length (chunked): $code"
code="$(curl -s -o "$TMP/e_json.json" -w '%{http_code}' -H 'Content-Type: application/json' -d '{"motion":"nod"}' "$URL/api/jobs")"
ok $([ "$code" = 415 ] && echo 1) "JSON body: $code $(err e_json)"
post 202 noface -F "source=@$TMP/noface.png" -F motion=nod -F duration=0.2
IDF="$(field "$TMP/noface.json" id)"
ok $([ "$(wait_job "$IDF" 60)" = failed ] && echo 1) "no face: job fails"
ok $([ "$(field "$TMP/status.json" error)" = "no face found in the portrait" ] && echo 1) "no face message: $(cat "$TMP/status.json")"
ok $([ "$(code_of "$URL/api/jobs/$IDF/result")" = 409 ] && echo 1) "result of a failed job: 409"
# a driving video without a face: its own message, not the portrait's
ffmpeg -loglevel error -f lavfi -i "testsrc=size=160x120:duration=1:rate=10" -c:v libx264 -pix_fmt yuv420p "$TMP/noface.mp4"
post 202 noface_driver -F "source=@$SRC" -F "driving=@$TMP/noface.mp4" -F engine=warp2d
ok $([ "$(wait_job "$(field "$TMP/noface_driver.json" id)" 60)" = failed ] \
     && [ "$(field "$TMP/status.json" error)" = "no face found in any frame of the driving video" ] && echo 1) \
  "face-less driver: $(cat "$TMP/status.json")"

# --- faces: a portrait with two (Grace Hopper, larger, on the right; the Mona Lisa on the
# left) listed largest first; `face` animates the one picked and only it
ffmpeg -loglevel error -i "$ROOT/examples/mona_lisa.png" -i "$ROOT/examples/grace_hopper.jpg" -filter_complex \
  "[0:v]scale=-2:400,setsar=1[a];[1:v]scale=-2:300,pad=iw:400:0:50,setsar=1[b];[a][b]hstack=inputs=2" -frames:v 1 "$TMP/two.png"
curl -s -o "$TMP/faces.json" -F "source=@$TMP/two.png;filename=Two Faces.png" "$URL/api/faces"
IDFACES="$(field "$TMP/faces.json" id)"
ok $([ "$(wait_job "$IDFACES" 60)" = done ] && [ "$(field "$TMP/status.json" kind)" = faces ] && echo 1) "faces job done: $(cat "$TMP/status.json")"
curl -s -D "$TMP/h" -o "$TMP/faces_result.json" "$URL/api/jobs/$IDFACES/result"
ok $(grep -qi '^content-type: application/json' "$TMP/h" && grep -qi 'filename="Two_Faces-faces.json"' "$TMP/h" \
     && [ "$(json "$TMP/faces_result.json" '[j.width, j.height, j.faces.length, j.faces[0].box[0] > 282, j.faces[1].box[2] < 282,
            (j.faces[0].box[2] - j.faces[0].box[0]) > (j.faces[1].box[2] - j.faces[1].box[0])].join()')" = "564,400,2,true,true,true" ] \
     && echo 1) "two faces listed, largest (right) first: $(cat "$TMP/faces_result.json")"
ok $([ "$(code_of -X DELETE "$URL/api/jobs/$IDFACES")" = 204 ] && echo 1) "a faces job is deleted like any"
code="$(curl -s -o "$TMP/e_faces_motion.json" -w '%{http_code}' -F "source=@$TMP/two.png" -F motion=nod "$URL/api/faces")"
ok $([ "$code" = 400 ] && err e_faces_motion | grep -q "takes the portrait alone" && echo 1) "faces with a motion: $code $(err e_faces_motion)"
# psnr LEFT|RIGHT FILE: PSNR (dB) of that half of frame 8 against the portrait's
psnr() {
  local crop="crop=260:400:0:0"; [ "$1" = right ] && crop="crop=260:400:300:0"
  ffmpeg -loglevel error -y -i "$2" -vf "select=eq(n\,8)" -frames:v 1 "$TMP/frame8.png"
  ffmpeg -i "$TMP/frame8.png" -i "$TMP/two.png" -filter_complex "[0:v]$crop,format=rgb24[a];[1:v]$crop,format=rgb24[b];[a][b]psnr" \
    -f null - 2>&1 | sed -n 's/.*average:\([0-9.]*\).*/\1/p' | cut -d. -f1
}
for face in 1 2; do
  post 202 "face$face" -F "source=@$TMP/two.png" -F motion=nod -F duration=1 -F pose_scale=3 -F engine=warp2d -F face=$face
  ok $([ "$(wait_job "$(field "$TMP/face$face.json" id)" 90)" = done ] && echo 1) "face $face job done: $(cat "$TMP/status.json")"
  curl -s -o "$TMP/face$face.mp4" "$URL/api/jobs/$(field "$TMP/face$face.json" id)/result"
done
l1=$(psnr left "$TMP/face1.mp4"); r1=$(psnr right "$TMP/face1.mp4"); l2=$(psnr left "$TMP/face2.mp4"); r2=$(psnr right "$TMP/face2.mp4")
ok $([ -n "$l1$r1$l2$r2" ] && [ "${r1:-99}" -lt 33 ] && [ "${l1:-0}" -gt 35 ] && [ "${l2:-99}" -lt 33 ] && [ "${r2:-0}" -gt 35 ] && echo 1) \
  "face 1 moves the right face only, face 2 the left (PSNR to the portrait, dB: face 1 left $l1 right $r1; face 2 left $l2 right $r2)"
echo "faces: PSNR of frame 8 to the portrait (dB), face 1 picked: left $l1, right $r1; face 2 picked: left $l2, right $r2"
post 202 face3 -F "source=@$TMP/two.png" -F motion=nod -F duration=0.2 -F face=3
ok $([ "$(wait_job "$(field "$TMP/face3.json" id)" 60)" = failed ] && [ "$(field "$TMP/status.json" error)" = "face 3: the portrait has only 2 faces" ] \
     && echo 1) "face 3 of 2: $(cat "$TMP/status.json")"
post 400 e_face -F "source=@$SRC" -F motion=nod -F face=0
ok $(err e_face | grep -q "face must be a whole number from 1 to 32" && echo 1) "face 0: $(err e_face)"
for name in noface_driver face1 face2 face3; do curl -s -o /dev/null -X DELETE "$URL/api/jobs/$(field "$TMP/$name.json" id)"; done
NOID=0123456789abcdef0123456789abcdef
ok $([ "$(code_of "$URL/api/jobs/$NOID")" = 404 ] && [ "$(code_of "$URL/api/jobs/$NOID/result")" = 404 ] \
     && [ "$(code_of -X DELETE "$URL/api/jobs/$NOID")" = 404 ] && echo 1) "unknown job: 404"
for path in "/../../etc/passwd" "/api/jobs/../../../etc/passwd" "/%2e%2e/%2e%2e/etc/passwd" "/api/jobs/$ID/../result" \
            "/api/jobs/$ID/result/../../$ID3" "/api/jobs/${ID^^}" "/api/jobs/$ID%00" "/index.html" "/web/app.js" "//etc/passwd" \
            "/api/jobs/$ID/x"; do
  code="$(code_of --path-as-is "$URL$path")"
  ok $([ "$code" = 404 ] && echo 1) "GET $path: $code, want 404"
done
ok $([ "$(code_of -X PUT "$URL/")" = 405 ] && [ "$(code_of "$URL/api/jobs")" = 405 ] \
     && [ "$(code_of -X POST -d x=1 "$URL/api/motions")" = 405 ] && [ "$(code_of -X PATCH "$URL/api/jobs/$ID")" = 405 ] && echo 1) "wrong methods: 405"
ok $([ "$(code_of -H 'Host: evil.example' "$URL/api/motions")" = 403 ] && echo 1) "foreign Host header (DNS rebinding): 403"
post 403 e_origin -H 'Origin: http://evil.example' -F "source=@$SRC" -F motion=nod
ok $([ "$(code_of -X DELETE -H 'Origin: http://evil.example' "$URL/api/jobs/$ID")" = 403 ] && echo 1) "cross-site DELETE: 403"

# --- cancel a running job: 204, gone, its child killed, its folder removed; while it runs,
# its command line shows the options the form gave
post 202 long -F "source=@$SRC" -F motion=talk -F duration=60 -F eyes=0.75 -F lips=2.5 -F background=move \
  -F expression_scale=0.5
IDL="$(field "$TMP/long.json" id)"
for _ in $(seq 150); do curl -s "$URL/api/jobs/$IDL" -o "$TMP/s.json"; [ "$(field "$TMP/s.json" state)" = running ] && break; sleep 0.2; done
sleep 1
ok $([ "$(field "$TMP/s.json" state)" = running ] && echo 1) "long job runs"
spec="$(find "$TMP/work" -name job.json | head -1)"
ok $([ -n "$spec" ] && [ "$(json "$spec" '[j.expression_scale, j.pose_scale, j.eyes, j.lips, j.background_move, j.engine, j.motion].join(" ")')" \
     = "0.5 1 0.75 2.5 true warp talk" ] && echo 1) "the job's worker is given the options: $(cat "$spec" 2>/dev/null)"
ok $(pgrep -f "serve --worker $TMP/work/" >/dev/null && echo 1) "the job runs in a worker process (vivify serve --worker)"
ok $([ "$(code_of -X DELETE "$URL/api/jobs/$IDL")" = 204 ] && echo 1) "DELETE a running job: 204"
ok $([ "$(code_of "$URL/api/jobs/$IDL")" = 404 ] && echo 1) "deleted job: 404"
for _ in $(seq 50); do pgrep -f "serve --worker $TMP/work/" >/dev/null || break; sleep 0.1; done
ok $(pgrep -f "$TMP/work/" >/dev/null || echo 1) "no animate child left after delete"

# --- load: 10 jobs queued at once, 50 concurrent status polls while they run; nothing lost
LOAD_START=$(date +%s.%N)
posters=()
for i in $(seq 10); do
  curl -s -o "$TMP/load$i.json" -w '%{http_code}\n' -F "source=@$SRC" -F motion=smile -F duration=0.2 "$URL/api/jobs" >"$TMP/load$i.code" &
  posters+=($!)
done
wait "${posters[@]}"
ids=()
for i in $(seq 10); do
  [ "$(cat "$TMP/load$i.code")" = 202 ] && ids+=("$(field "$TMP/load$i.json" id)")
done
ok $([ ${#ids[@]} = 10 ] && [ "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" = 10 ] && echo 1) "10 jobs accepted, 10 distinct ids"
poll_urls=()
for k in $(seq 50); do poll_urls+=(-o "$TMP/poll$k.json" "$URL/api/jobs/${ids[$((k % 10))]}"); done
curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 50 -w '%{http_code}\n' "${poll_urls[@]}" >"$TMP/poll.codes"
good=0
for k in $(seq 50); do grep -qE '^(queued|running|done)$' <<<"$(field "$TMP/poll$k.json" state)" && good=$((good + 1)); done
ok $([ "$(grep -c '^200$' "$TMP/poll.codes")" = 50 ] && [ $good = 50 ] && echo 1) \
  "50 concurrent polls: $(grep -c '^200$' "$TMP/poll.codes") answered 200, $good valid"
done_count=0
for id in "${ids[@]}"; do
  if [ "$(wait_job "$id" 120)" = done ] && curl -s -o "$TMP/load.mp4" "$URL/api/jobs/$id/result" \
     && [ "$(frames_of "$TMP/load.mp4")" = 5 ]; then done_count=$((done_count + 1)); fi
done
LOAD_END=$(date +%s.%N)
ok $([ $done_count = 10 ] && echo 1) "load: $done_count of 10 jobs finished with a 5-frame result"
echo "load: 10 jobs (5 frames each, 2 at once) + 50 concurrent polls in $(echo "$LOAD_END - $LOAD_START" | bc 2>/dev/null || echo "?") s"

# --- deleting finished jobs removes their files
for id in "$ID" "$ID2" "$ID3" "$ID4" "$IDF" "${ids[@]}"; do curl -s -o /dev/null -X DELETE "$URL/api/jobs/$id"; done
left="$(find "$TMP/work" -mindepth 2 | wc -l)"
ok $([ "$left" = 0 ] && echo 1) "after deleting every job the temp folder is empty ($left entries left)"

# --- a client that goes away mid-upload leaves nothing behind
head -c 1500000 "$TMP/big.bin" >"$TMP/partial.bin"
curl -s -o /dev/null --limit-rate 200k -F "source=@$TMP/partial.bin" -F motion=nod "$URL/api/jobs" &
CURL_PID=$!
for _ in $(seq 50); do [ -n "$(find "$TMP/work" -name 'source.upload' -size +10k)" ] && break; sleep 0.1; done
ok $([ -n "$(find "$TMP/work" -name 'source.upload')" ] && echo 1) "upload in progress is stored in the job folder"
kill "$CURL_PID" 2>/dev/null; wait "$CURL_PID" 2>/dev/null
for _ in $(seq 50); do [ -z "$(find "$TMP/work" -mindepth 2)" ] && break; sleep 0.1; done
ok $([ -z "$(find "$TMP/work" -mindepth 2)" ] && echo 1) "cut-off upload removed: $(find "$TMP/work" -mindepth 2)"

# --- 429 when the queue is full; stopping the server kills jobs and removes their files
mkdir -p "$TMP/work2"
MAIN_URL="$URL"
start_server small --jobs 1 --queue 1 --temp "$TMP/work2"
post 202 q1 -F "source=@$SRC" -F motion=talk -F duration=60
post 202 q2 -F "source=@$SRC" -F motion=talk -F duration=60
post 429 q3 -F "source=@$SRC" -F motion=talk -F duration=1
ok $(field "$TMP/q3.json" error | grep -q "queue is full" && echo 1) "429 message: $(cat "$TMP/q3.json")"
Q1="$(field "$TMP/q1.json" id)"
for _ in $(seq 150); do curl -s "$URL/api/jobs/$Q1" -o "$TMP/s.json"; [ "$(field "$TMP/s.json" state)" = running ] && break; sleep 0.2; done
ok $([ -n "$(ls -A "$TMP/work2")" ] && echo 1) "jobs keep files while the server runs"
kill -TERM "$PID"
stopped=0
for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || { stopped=1; break; }; sleep 0.1; done
ok $stopped "server stops on SIGTERM"
ok $([ -z "$(ls -A "$TMP/work2")" ] && echo 1) "stopping removes every temp file: $(ls -A "$TMP/work2")"
ok $(pgrep -f "$TMP/work2/" >/dev/null || echo 1) "stopping kills running jobs"
URL="$MAIN_URL"

# --- kill -9 of the server: its job dies with it (parent-death signal), and the next start
# in the same --temp removes the folder it left
mkdir -p "$TMP/work3"
start_server killed --jobs 1 --temp "$TMP/work3"
post 202 k1 -F "source=@$SRC" -F motion=talk -F duration=60
K1="$(field "$TMP/k1.json" id)"
for _ in $(seq 150); do curl -s "$URL/api/jobs/$K1" -o "$TMP/s.json"; [ "$(field "$TMP/s.json" state)" = running ] && break; sleep 0.2; done
ok $(pgrep -f "serve --worker $TMP/work3/" >/dev/null && echo 1) "a job runs before the kill"
left_by_killed="$(ls "$TMP/work3")"
kill -KILL "$PID"; wait "$PID" 2>/dev/null
for _ in $(seq 30); do pgrep -f "serve --worker $TMP/work3/" >/dev/null || break; sleep 0.1; done
ok $(pgrep -f "serve --worker $TMP/work3/" >/dev/null || echo 1) "kill -9 of the server: no job outlives it"
start_server restarted --temp "$TMP/work3"
ok $([ -n "$URL" ] && [ "$(ls "$TMP/work3" | wc -l)" = 1 ] && [ "$(ls "$TMP/work3")" != "$left_by_killed" ] && echo 1) \
  "the next start removes the killed server's folder ($left_by_killed): $(ls "$TMP/work3")"
kill -TERM "$PID"; wait "$PID" 2>/dev/null
URL="$MAIN_URL"

# --- the worker itself (vivify serve --worker DIR): JSON lines; the search for the driver's
# first face reported as progress (1 s of black before the face); a driver longer than the
# server's cap refused before any work
ffmpeg -loglevel error -f lavfi -i "color=black:size=256x384:duration=1:rate=25" -loop 1 -framerate 25 -t 0.6 -i "$SRC" \
  -filter_complex "[1:v]scale=256:384,setsar=1[f];[0:v]setsar=1[b];[b][f]concat=n=2:v=1[v]" -map "[v]" \
  -c:v libx264 -pix_fmt yuv420p "$TMP/intro.mp4"
mkdir -p "$TMP/wjob"
cp "$SRC" "$TMP/wjob/source.png"
worker_job() { # MAX_SECONDS
  printf '{"source":"%s","driving":"%s","output":"%s","engine":"warp2d","max_frames":100,"max_seconds":%s,"memory_mb":4096}' \
    "$TMP/wjob/source.png" "$TMP/intro.mp4" "$TMP/wjob/result.mp4" "$1" >"$TMP/wjob/job.json"
}
worker_job 10
"$VIVIFY" serve --worker "$TMP/wjob" >"$TMP/worker.out" 2>"$TMP/worker.err"; rc=$?
ok $([ $rc = 0 ] && grep -q '"stage":"searching"' "$TMP/worker.out" && grep -q '"stage":"rendering","done":40,"total":40' "$TMP/worker.out" \
     && [ "$(tail -1 "$TMP/worker.out")" = '{"done":true,"frames":40,"audio":false}' ] && [ "$(frames_of "$TMP/wjob/result.mp4")" = 40 ] && echo 1) \
  "worker: searching, then rendering lines, then done (exit $rc): $(head -c 600 "$TMP/worker.out")"
worker_job 0.5
"$VIVIFY" serve --worker "$TMP/wjob" >"$TMP/worker.out" 2>"$TMP/worker.err"; rc=$?
ok $([ $rc != 0 ] && [ "$(cat "$TMP/worker.out")" = '{"error":"the driving video is 1.6 s long; this server animates drivers of up to 0.5 s"}' ] && echo 1) \
  "worker: a driver over the cap (exit $rc): $(cat "$TMP/worker.out")"

# --- a server bound elsewhere than loopback only when asked; a port in use is one clear line
"$VIVIFY" serve --host 127.0.0.1 --port "${URL##*:}" >/dev/null 2>"$TMP/busy.err"; rc=$?
ok $([ $rc != 0 ] && grep -q "cannot listen on 127.0.0.1 port" "$TMP/busy.err" && echo 1) "port in use: exit $rc: $(cat "$TMP/busy.err")"

if grep -qE "AddressSanitizer|runtime error" "$TMP"/*.err; then
  failed=$((failed + 1)); echo "FAIL: sanitizer report:"; grep -hE -A5 "AddressSanitizer|runtime error" "$TMP"/*.err | head -20
fi
echo "cli_serve: $passed passed, $failed failed in $(( $(date +%s) - START )) s"
[ $failed = 0 ]
