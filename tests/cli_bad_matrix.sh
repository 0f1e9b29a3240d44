#!/usr/bin/env bash
# The bad-input matrix (issue 8): every command fed truncated, corrupt, empty and wrong-kind
# files, absurd sizes, face-less and video-less media, unwritable outputs, outputs in
# missing folders and conflicting options.  Each case asserts the exact exit code (one per
# kind of failure, README "Exit codes"), one line on stderr naming what and where (progress
# lines aside), no sanitizer report, and nothing left behind: neither the output nor a
# temporary file (file_temp_path's ".NAME.PID.tmp-NAME", anywhere in the work folder).
# All inputs are made here, from examples/mona_lisa.png, ffmpeg's lavfi sources and head/dd.
# usage: [VERBOSE=1] cli_bad_matrix.sh PATH/TO/vivify   (VERBOSE: every case's exit code and message)
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
command -v ffmpeg >/dev/null || { echo "SKIPPED: no ffmpeg"; exit 77; }
. "$ROOT/tests/lib/models.sh" # where vivify looks: $VIVIFY_MODELS, then .cache/models
model_present blazeface.json || { echo "SKIPPED: blazeface.json not present (./dev setup)"; exit 77; }
START=$(date +%s)
. "$ROOT/tests/lib/check.sh"

# bad NAME CODE PATTERN "OUTPUTS..." -- command...
#   CODE: the exact exit code; PATTERN: ERE the one error line must match; OUTPUTS: paths
#   that must not exist afterwards.
bad() {
  local name="$1" code="$2" pattern="$3" outputs="$4"; shift 5
  local raw err rc lines problems="" out left
  local t0=$SECONDS
  raw="$(timeout 60 "$@" 2>&1 >/dev/null)"; rc=$?
  # progress lines ("tracking: 3/10 frames (4.2 frames/s)") are not the error
  err="$(printf '%s\n' "$raw" | grep -vE ': [0-9]+/[0-9]+ [a-z]+ \([0-9.]+ [a-z]+/s\)$')"
  lines="$(printf '%s' "$err" | grep -c .)"
  [ "$rc" = "$code" ] || problems+="exit $rc, want $code; "
  [ "$lines" = 1 ] || problems+="$lines stderr lines, want 1; "
  printf '%s' "$err" | grep -qE '^(vivify: |usage: vivify )' || problems+="not a 'vivify: ' line; "
  printf '%s' "$err" | grep -qE -- "$pattern" || problems+="message lacks /$pattern/; "
  printf '%s' "$raw" | grep -qE 'AddressSanitizer|LeakSanitizer|runtime error|Segmentation' && problems+="sanitizer report; "
  for out in $outputs; do [ -e "$out" ] && problems+="$out left behind; "; done
  left="$(find "$W" -name '*.tmp-*' 2>/dev/null)"
  [ -n "$left" ] && { problems+="temp files left: $left; "; find "$W" -name '*.tmp-*' -exec rm -rf {} + 2>/dev/null; }
  if [ -z "$problems" ]; then
    passed=$((passed + 1))
    [ -n "${VERBOSE:-}" ] && echo "ok   $name ($((SECONDS - t0)) s): exit $rc: ${err#vivify: }"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $problems"
    echo "     stderr: $raw"
  fi
}

# ---- inputs
ff() { ffmpeg -v error -y "$@" </dev/null; }
ff -i "$ROOT/examples/mona_lisa.png" -vf scale=192:-2 "$W/face.png"
ff -i "$W/face.png" "$W/face.jpg"
ff -f lavfi -i "color=gray:size=96x96" -frames:v 1 "$W/grey.png"
ff -loop 1 -i "$W/face.png" -t 0.4 -r 10 -c:v libx264 -pix_fmt yuv420p "$W/drv.mp4"
ff -f lavfi -i "testsrc=size=96x64:rate=10:duration=0.2" -c:v libx264 -pix_fmt yuv420p "$W/noface.mp4"
ff -f lavfi -i "sine=frequency=440:duration=0.5" "$W/audio.m4a"
for clip in mona_a lisa_b; do # two "people" (by file name) for a tiny dataset
  ff -loop 1 -i "$W/face.png" -vf "zoompan=z='1+0.004*on':d=6:s=192x290:fps=10" -frames:v 6 -pix_fmt yuv420p "$W/$clip.mp4"
done
for f in face.png face.jpg grey.png drv.mp4 noface.mp4 audio.m4a mona_a.mp4 lisa_b.mp4; do
  [ -s "$W/$f" ] || { echo "SKIPPED: ffmpeg could not make $f"; exit 77; }
done
: > "$W/empty.png"
: > "$W/empty.vds"
: > "$W/empty.safetensors"
echo "hello, not a video" > "$W/text.mp4"
head -c 1500 "$W/face.jpg" > "$W/trunc.jpg"
head -c 3000 "$W/drv.mp4" > "$W/trunc.mp4" # cut before its index (moov is at the end)
cp "$W/face.png" "$W/corrupt.png"             # 2000 bytes of JPEG over the PNG's image data
head -c 2000 "$W/face.jpg" | dd of="$W/corrupt.png" bs=1 seek=4000 conv=notrunc status=none
# a valid PNG signature and IHDR (CRC included) claiming 100000 x 100000 pixels, no data
printf '\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x01\x86\xa0\x00\x01\x86\xa0\x08\x02\x00\x00\x00\x27\x30\x9c\x9f' > "$W/huge.png"
# motion templates: a valid one (2 frames of 68 points), cut short, absurd size
points="$(for i in $(seq 0 67); do printf '[%d.5, %d.5]\n' $((40 + i)) $((60 + i % 17)); done | paste -sd, -)"
template() { printf '{"format": "vivify-motion", "version": 1, "fps": 25, "width": %s, "height": %s, "audio": null, "frames": [[%s], [%s]]}\n' "$1" "$2" "$points" "$points"; }
template 192 290 > "$W/good.json"
head -c 300 "$W/good.json" > "$W/trunc.json"
template 1000000 1000000 > "$W/absurd.json"
# a dataset and a 1-step model of the smallest configuration, then damaged copies
"$VIVIFY" dataset build "$W/mona_a.mp4" "$W/lisa_b.mp4" -o "$W/tiny.vds" --size 32 --threads 1 -q 2>/dev/null
"$VIVIFY" train --data "$W/tiny.vds" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 1 --identity 0 \
  --val-every 0 -q -o "$W/m.safetensors" 2>/dev/null
[ -s "$W/tiny.vds" ] && [ -s "$W/m.safetensors" ] && [ -s "$W/m.safetensors.state" ] || { echo "FAIL: could not make the dataset and model"; exit 1; }
vds_size=$(wc -c < "$W/tiny.vds")
head -c $((vds_size / 2)) "$W/tiny.vds" > "$W/trunc.vds"
cp "$W/tiny.vds" "$W/badindex.vds" # the clip index (at the end) overwritten with 0xff
head -c 200 /dev/zero | tr '\0' '\377' | dd of="$W/badindex.vds" bs=1 seek=$((vds_size - 300)) conv=notrunc status=none
head -c $(($(wc -c < "$W/m.safetensors") / 2)) "$W/m.safetensors" > "$W/trunc.safetensors"
mkdir -p "$W/resume"
head -c $(($(wc -c < "$W/m.safetensors") / 2)) "$W/m.safetensors" > "$W/resume/cut.safetensors"
cp "$W/m.safetensors.state" "$W/resume/cut.safetensors.state"
cp "$W/m.safetensors" "$W/resume/ok.safetensors"
head -c 1000 "$W/m.safetensors.state" > "$W/resume/ok.safetensors.state"
cp "$W/resume/ok.safetensors" "$W/resume/ok.before"
F="$W/face.png" # a regular file: "$F/out" is a path no one can write, root included
M="$W/missing"  # a folder that does not exist
TRAIN=(--size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 2 --identity 0 --val-every 0 -q)

# ---- landmarks
bad "landmarks: empty PNG" 5 "empty.png" "$W/l.json" -- "$VIVIFY" landmarks "$W/empty.png" -o "$W/l.json"
bad "landmarks: truncated JPEG" 6 "trunc.jpg" "$W/l.json" -- "$VIVIFY" landmarks "$W/trunc.jpg" -o "$W/l.json"
bad "landmarks: corrupt PNG data" 6 "corrupt.png" "$W/l.json" -- "$VIVIFY" landmarks "$W/corrupt.png" -o "$W/l.json"
bad "landmarks: PNG claiming 100000x100000" 7 "huge.png.*100000|100000.*huge.png" "$W/l.json" -- "$VIVIFY" landmarks "$W/huge.png" -o "$W/l.json"
bad "landmarks: text file as video" 5 "text.mp4" "$W/l.json" -- "$VIVIFY" landmarks "$W/text.mp4" -o "$W/l.json"
bad "landmarks: truncated MP4" 6 "trunc.mp4.*truncated" "$W/l.json" -- "$VIVIFY" landmarks "$W/trunc.mp4" -o "$W/l.json"
bad "landmarks: audio only" 9 "audio.m4a holds no video stream" "$W/l.json" -- "$VIVIFY" landmarks "$W/audio.m4a" -o "$W/l.json"
bad "landmarks: video without a face" 8 "no face found in .*noface.mp4" "$W/l.json $W/o.mp4" -- \
  "$VIVIFY" landmarks "$W/noface.mp4" -o "$W/l.json" --overlay "$W/o.mp4"
bad "landmarks: image without a face" 8 "no face found in .*grey.png" "$W/l.json" -- "$VIVIFY" landmarks "$W/grey.png" -o "$W/l.json"
bad "landmarks: video overlay for an image" 2 "--overlay .*o.mp4" "$W/l.json $W/o.mp4" -- \
  "$VIVIFY" landmarks "$F" -o "$W/l.json" --overlay "$W/o.mp4"
bad "landmarks: -o under a regular file" 10 "cannot write .*face.png/l.json" "" -- "$VIVIFY" landmarks "$F" -o "$F/l.json"
bad "landmarks: overlay in a missing folder" 10 "cannot write .*missing/o.png" "$W/l.json" -- \
  "$VIVIFY" landmarks "$F" -o "$W/l.json" --overlay "$M/o.png"

# ---- animate
A="$W/a.mp4"
bad "animate: --driving with --motion" 2 "not both" "$A" -- "$VIVIFY" animate "$F" --driving "$W/drv.mp4" --motion talk -o "$A"
bad "animate: --duration with --driving" 2 "--duration is for the built-in motions" "$A" -- "$VIVIFY" animate "$F" --driving "$W/drv.mp4" --duration 3 -o "$A"
bad "animate: no -o" 2 "needs -o" "" -- "$VIVIFY" animate "$F" --motion talk
bad "animate: --size 0" 2 "--size .*'0'" "$A" -- "$VIVIFY" animate "$F" --motion talk --size 0 -o "$A"
bad "animate: --size 100000" 2 "--size .*'100000'" "$A" -- "$VIVIFY" animate "$F" --motion talk --size 100000 -o "$A"
bad "animate: --frames -1" 2 "--frames .*'-1'" "$A" -- "$VIVIFY" animate "$F" --driving "$W/drv.mp4" --frames -1 -o "$A"
bad "animate: unknown engine" 2 "--engine .*'gan'" "$A" -- "$VIVIFY" animate "$F" --motion talk --engine gan -o "$A"
bad "animate: --model with the warp engine" 2 "--model is for" "$A" -- "$VIVIFY" animate "$F" --motion talk --model "$W/m.safetensors" -o "$A"
bad "animate: --eyes -1" 2 "--eyes .*'-1'" "$A" -- "$VIVIFY" animate "$F" --motion talk --eyes -1 -o "$A"
bad "animate: --eyes 4" 2 "--eyes .*'4'" "$A" -- "$VIVIFY" animate "$F" --motion talk --eyes 4 -o "$A"
bad "animate: --eyes abc" 2 "--eyes .*'abc'" "$A" -- "$VIVIFY" animate "$F" --motion talk --eyes abc -o "$A"
bad "animate: --lips 9" 2 "--lips .*'9'" "$A" -- "$VIVIFY" animate "$F" --motion talk --lips 9 -o "$A"
bad "animate: --background sideways" 2 "--background .*'sideways'" "$A" -- \
  "$VIVIFY" animate "$F" --motion talk --background sideways -o "$A"
bad "animate: --smoothing -1" 2 "--smoothing .*'-1'" "$A" -- "$VIVIFY" animate "$F" --driving "$W/drv.mp4" --smoothing -1 -o "$A"
bad "animate: --lookahead 65" 2 "--lookahead .*'65'" "$A" -- "$VIVIFY" animate "$F" --driving "$W/drv.mp4" --lookahead 65 -o "$A"
bad "animate: --model with the warp2d engine" 2 "--model is for" "$A" -- \
  "$VIVIFY" animate "$F" --motion talk --engine warp2d --model "$W/m.safetensors" -o "$A"
bad "animate: .webm output" 12 "a.webm" "$W/a.webm" -- "$VIVIFY" animate "$F" --motion talk -o "$W/a.webm"
bad "animate: .png output from a video driver" 12 "a.png: a still image is made from a still driver" "$W/a.png" -- \
  "$VIVIFY" animate "$F" --driving "$W/drv.mp4" -o "$W/a.png"
bad "animate: empty source" 5 "empty.png" "$A" -- "$VIVIFY" animate "$W/empty.png" --motion talk -o "$A"
bad "animate: 100000x100000 source" 7 "huge.png" "$A" -- "$VIVIFY" animate "$W/huge.png" --motion talk -o "$A"
bad "animate: source without a face" 8 "no face found in .*grey.png" "$A" -- "$VIVIFY" animate "$W/grey.png" --motion talk -o "$A"
bad "animate: truncated MP4 driver" 6 "trunc.mp4.*truncated" "$A" -- "$VIVIFY" animate "$F" --driving "$W/trunc.mp4" -o "$A"
bad "animate: text file as driver" 5 "text.mp4" "$A" -- "$VIVIFY" animate "$F" --driving "$W/text.mp4" -o "$A"
bad "animate: audio-only driver" 9 "audio.m4a holds no video stream" "$A" -- "$VIVIFY" animate "$F" --driving "$W/audio.m4a" -o "$A"
bad "animate: driver without a face" 8 "no face found in any frame of .*noface.mp4" "$A" -- \
  "$VIVIFY" animate "$F" --driving "$W/noface.mp4" -o "$A"
bad "animate: truncated motion JSON" 6 "trunc.json.*truncated" "$A" -- "$VIVIFY" animate "$F" --motion "$W/trunc.json" -o "$A"
bad "animate: motion 1000000 px wide" 6 "absurd.json.*width" "$A" -- "$VIVIFY" animate "$F" --motion "$W/absurd.json" -o "$A"
bad "animate: image as motion" 5 "face.png is not a JSON motion template" "$A" -- "$VIVIFY" animate "$F" --motion "$F" -o "$A"
bad "animate: fsth, truncated model" 11 "trunc.safetensors" "$A" -- \
  "$VIVIFY" animate "$F" --motion talk --engine fsth --model "$W/trunc.safetensors" -o "$A"
bad "animate: hybrid, image as model" 11 "face.png" "$A" -- "$VIVIFY" animate "$F" --motion talk --engine hybrid --model "$F" -o "$A"
bad "animate: fsth, empty model" 11 "empty.safetensors" "$A" -- \
  "$VIVIFY" animate "$F" --motion talk --engine fsth --model "$W/empty.safetensors" -o "$A"
bad "animate: output in a missing folder" 10 "missing/a.mp4" "$M" -- "$VIVIFY" animate "$F" --motion talk --duration 0.2 -o "$M/a.mp4"
bad "animate: output under a regular file" 10 "face.png/a.gif" "" -- "$VIVIFY" animate "$F" --motion blink --duration 0.2 -o "$F/a.gif"
bad "animate: PNG folder in a missing folder" 10 "missing/frames" "$M" -- \
  "$VIVIFY" animate "$F" --motion smile --duration 0.2 -o "$M/frames/"

# ---- motion extract
bad "motion extract: no -o" 2 "needs -o" "" -- "$VIVIFY" motion extract "$W/drv.mp4"
bad "motion extract: text file" 5 "text.mp4" "$W/m.json" -- "$VIVIFY" motion extract "$W/text.mp4" -o "$W/m.json"
bad "motion extract: no face" 8 "no face found in any frame of .*noface.mp4" "$W/m.json" -- \
  "$VIVIFY" motion extract "$W/noface.mp4" -o "$W/m.json"
bad "motion extract: output in a missing folder" 10 "missing/m.json" "$M" -- "$VIVIFY" motion extract "$W/drv.mp4" -o "$M/m.json"

# ---- metrics
bad "metrics: image with a text file as video" 5 "text.mp4" "" -- "$VIVIFY" metrics "$F" "$W/text.mp4"
bad "metrics: corrupt PNG" 6 "corrupt.png" "" -- "$VIVIFY" metrics "$F" "$W/corrupt.png" --no-faces
bad "metrics: audio only" 9 "audio.m4a" "" -- "$VIVIFY" metrics "$W/drv.mp4" "$W/audio.m4a" --no-faces
bad "metrics: --max-frames 0" 2 "--max-frames" "" -- "$VIVIFY" metrics "$W/drv.mp4" "$W/drv.mp4" --max-frames 0

# ---- eval (a failed run leaves no report folder)
bad "eval: text file as clip" 5 "text.mp4" "$W/rep" -- "$VIVIFY" eval "$W/text.mp4" -o "$W/rep"
bad "eval: truncated clip" 6 "trunc.mp4" "$W/rep" -- "$VIVIFY" eval "$W/trunc.mp4" -o "$W/rep"
bad "eval: --protocol cross without --portraits" 2 "--portraits" "$W/rep" -- "$VIVIFY" eval "$W/drv.mp4" --protocol cross -o "$W/rep"
bad "eval: unknown engine" 2 "unknown engine 'gan'" "$W/rep" -- "$VIVIFY" eval "$W/drv.mp4" --engine warp,gan -o "$W/rep"
bad "eval: report under a regular file" 10 "face.png/rep" "" -- "$VIVIFY" eval "$W/drv.mp4" -o "$F/rep"

# ---- dataset build / info
D="$W/d.vds"
bad "dataset build: text file" 5 "text.mp4" "$D" -- "$VIVIFY" dataset build "$W/text.mp4" -o "$D" -q
bad "dataset build: no face" 8 "no usable face in .*noface.mp4" "$D" -- "$VIVIFY" dataset build "$W/noface.mp4" -o "$D" -q
bad "dataset build: audio only" 9 "audio.m4a" "$D" -- "$VIVIFY" dataset build "$W/audio.m4a" -o "$D" -q
bad "dataset build: --split train without --holdout" 2 "holdout" "$D" -- "$VIVIFY" dataset build "$W/mona_a.mp4" --split train -o "$D"
bad "dataset build: output under a regular file" 10 "face.png/d.vds" "" -- \
  "$VIVIFY" dataset build "$W/mona_a.mp4" --size 32 -q -o "$F/d.vds"
bad "dataset info: truncated" 6 "trunc.vds.*truncated" "" -- "$VIVIFY" dataset info "$W/trunc.vds"
bad "dataset info: empty" 5 "empty.vds" "" -- "$VIVIFY" dataset info "$W/empty.vds"
bad "dataset info: image as dataset" 5 "face.png is not a vivify dataset" "" -- "$VIVIFY" dataset info "$F"
bad "dataset info: damaged index" 6 "badindex.vds" "" -- "$VIVIFY" dataset info "$W/badindex.vds"
bad "dataset info: sheet in a missing folder" 10 "missing/s.png" "$M" -- "$VIVIFY" dataset info "$W/tiny.vds" --sheet "$M/s.png"

# ---- train (nothing written on failure: no model, state, log or validation folder)
T="$W/t.safetensors"
TOUT="$T $T.state $T.log $T.val"
bad "train: no --data" 2 "needs --data" "$TOUT" -- "$VIVIFY" train "${TRAIN[@]}" -o "$T"
bad "train: --size 0" 2 "--size .*'0'" "$TOUT" -- "$VIVIFY" train --data "$W/tiny.vds" "${TRAIN[@]}" --size 0 -o "$T"
bad "train: truncated dataset" 6 "trunc.vds" "$TOUT" -- "$VIVIFY" train --data "$W/trunc.vds" "${TRAIN[@]}" -o "$T"
bad "train: image as dataset" 5 "face.png" "$TOUT" -- "$VIVIFY" train --data "$F" "${TRAIN[@]}" -o "$T"
bad "train: output in a missing folder" 10 "missing/t.safetensors" "$M" -- "$VIVIFY" train --data "$W/tiny.vds" "${TRAIN[@]}" -o "$M/t.safetensors"
bad "train: --resume, no model" 11 "not found: .*t.safetensors" "$TOUT" -- \
  "$VIVIFY" train --data "$W/tiny.vds" "${TRAIN[@]}" --resume -o "$T"
bad "train: --resume, truncated model" 11 "cut.safetensors" "$W/resume/cut.safetensors.log" -- \
  "$VIVIFY" train --data "$W/tiny.vds" "${TRAIN[@]}" --resume -o "$W/resume/cut.safetensors"
bad "train: --resume, truncated state" 6 "ok.safetensors.state" "$W/resume/ok.safetensors.log" -- \
  "$VIVIFY" train --data "$W/tiny.vds" "${TRAIN[@]}" --resume -o "$W/resume/ok.safetensors"
ok "$(cmp -s "$W/resume/ok.safetensors" "$W/resume/ok.before" && echo 1)" "train --resume with a bad state changed the model"

# ---- finetune
P="$W/p.safetensors"
bad "finetune: truncated base" 11 "trunc.safetensors" "$P" -- "$VIVIFY" finetune "$W/trunc.safetensors" "$F" -o "$P" --steps 1 --identity 0
bad "finetune: image as base" 11 "face.png" "$P" -- "$VIVIFY" finetune "$F" "$F" -o "$P" --steps 1 --identity 0
bad "finetune: empty base" 11 "empty.safetensors" "$P" -- "$VIVIFY" finetune "$W/empty.safetensors" "$F" -o "$P" --steps 1 --identity 0
bad "finetune: text file as shot" 5 "text.mp4" "$P" -- "$VIVIFY" finetune "$W/m.safetensors" "$W/text.mp4" -o "$P" --steps 1 --identity 0
bad "finetune: shot without a face" 8 "no face found in .*grey.png" "$P" -- \
  "$VIVIFY" finetune "$W/m.safetensors" "$W/grey.png" -o "$P" --steps 1 --identity 0
bad "finetune: output under a regular file" 10 "cannot write .*face.png/p.safetensors" "" -- \
  "$VIVIFY" finetune "$W/m.safetensors" "$F" -o "$F/p.safetensors" --steps 1 --identity 0
bad "finetune: --ff with --steps" 2 "--ff" "$P" -- "$VIVIFY" finetune "$W/m.safetensors" "$F" -o "$P" --ff --steps 3

# ---- serve (failures at start; a second server on a port in use)
bad "serve: --port 70000" 2 "--port .*'70000'" "" -- "$VIVIFY" serve --port 70000
bad "serve: temp folder under a regular file" 10 "face.png/sub" "" -- "$VIVIFY" serve --port 0 --temp "$F/sub"
bad "serve: --models without models" 11 "missing/blazeface.json" "" -- "$VIVIFY" serve --port 0 --models "$M"
"$VIVIFY" serve --port 0 -q --temp "$W" >"$W/serve.out" 2>"$W/serve.err" &
SERVER_PID=$!
port=""
for _ in $(seq 100); do
  port="$(grep -oE '127\.0\.0\.1:[0-9]+' "$W/serve.out" 2>/dev/null | cut -d: -f2)"
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -n "$port" ]; then
  bad "serve: port in use" 4 "port $port" "" -- "$VIVIFY" serve --port "$port" -q
else
  failed=$((failed + 1)); echo "FAIL: the first server did not start: $(cat "$W/serve.err")"
fi
kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""

# ---- bench
bad "bench: unknown target" 2 "bench nn" "" -- "$VIVIFY" bench gpu
bad "bench nn: extra argument" 2 "unexpected argument 'extra'" "" -- "$VIVIFY" bench nn extra

ok "$([ ! -e "$M" ] && echo 1)" "the missing folder $M was created"
echo "cli_bad_matrix: $passed passed, $failed failed in $(($(date +%s) - START)) s"
[ "$failed" = 0 ]
