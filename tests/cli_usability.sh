#!/usr/bin/env bash
# What a new user trips on (issue 18, items 9-14), through the binary:
#  9  help says what a 0 default means ("default: all"), not "default 0"; --driving with
#     --motion says "not both";
# 10  an image as driver: its expression and pose against a neutral face, written as a still
#     (.png / .jpg) or a 1 s video that eases into it; a still output needs a still driver;
# 11  motion extract keeps the audio relative to the template: a template moved with its
#     video keeps the audio; a missing audio is said without -v;
# 12  metrics PORTRAIT VIDEO: the image against every frame (CSIM, landmarks);
# 13  eval --engine fsth without --model runs the shipped model, found as animate finds it;
# 14  serve --temp DIR makes DIR; the landmark overlay numbers the faces as --face N counts;
# 16  (found measuring it) landmarks -o onto a pipe or device writes into it, not over it;
# 17  (issue 13) landmarks of an image checks each face with the face mesh, as animate checks
#     a portrait: a dog's face (BlazeFace takes it for one) is "human": false, and an image
#     with no human face is "no face found" (exit 8, no JSON left), as animate says it;
# 18  (found measuring 17) landmarks numbers an image's faces as animate's --face N counts
#     them: the ones animate leaves out are "face": null, boxed in grey (dlib's bald_guys.jpg:
#     the 12th of 24 was numbered 12 where animate's --face 12 is the 13th); since the face
#     mesh's verdict keeps barely confident human faces (test_faces_quick), all 24 count.
# usage: cli_usability.sh PATH/TO/vivify   (77 without the face models or ffmpeg)
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/models.sh"
if ! model_present blazeface.json || ! model_present faceres.json || ! model_present dlib \
   || ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  echo "SKIPPED cli_usability: needs blazeface.json, faceres.json, dlib's predictor (./dev setup) and ffmpeg"; exit 77
fi
TMP="$(mktemp -d)"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$TMP"' EXIT
passed=0
failed=0
# ok MESSAGE -- command...: the command succeeds.
ok() { local msg="$1"; shift 2; if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $msg"; fi; }
# expect CODE PATTERN -- command...: exit CODE, the last stderr line matches PATTERN, no sanitizer report.
expect() {
  local code="$1" pattern="$2"; shift 3
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = "$code" ] && printf '%s\n' "$err" | tail -1 | grep -qE -- "$pattern" \
     && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error|Segmentation"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $* -> exit $rc (want $code), stderr: $(printf '%s' "$err" | tail -2) (want /$pattern/)"
  fi
}
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1" 2>/dev/null; }
size_of() { ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$1" 2>/dev/null; }
has_audio() { [ -n "$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1" 2>/dev/null)" ]; }
json_number() { grep -oE "\"$1\":[[:space:]]*-?[0-9.eE+-]+" "$2" | head -1 | grep -oE -- '-?[0-9.eE+-]+$'; }
# rgb X Y FILE: the pixel's "R G B" (decimal)
rgb() { ffmpeg -nostdin -v error -i "$3" -vf "crop=1:1:$1:$2" -f rawvideo -pix_fmt rgb24 - | od -An -tu1 | tr -s ' ' | sed 's/^ //;s/ $//'; }
MONA="$ROOT/examples/mona_lisa.png"
HOPPER="$ROOT/examples/grace_hopper.jpg"
W=$(( $(ffprobe -v error -show_entries stream=width -of csv=p=0 "$MONA") / 2 * 2 ))
H=$(( $(ffprobe -v error -show_entries stream=height -of csv=p=0 "$MONA") / 2 * 2 ))

# ---- 9: help texts and "not both"
help="$("$VIVIFY" motion extract --help)"
ok "motion --help: --frames says (default: all): $(grep -- --frames <<<"$help")" -- grep -qE -- "--frames N .*\(default: all\)" <<<"$help"
ok "motion --help shows 'default 0'" -- eval '! grep -q "(default 0)" <<<"$help"'
help="$("$VIVIFY" eval --help)"
ok "eval --help: --threads says all cores: $(grep -- --threads <<<"$help")" -- grep -qE -- "--threads N .*\(default: all cores\)$" <<<"$help"
ok "eval --help: --finetune-steps says 'default 0'" -- eval '! grep -- --finetune-steps <<<"$help" | grep -q "(default 0)"'
expect 2 "not both" -- "$VIVIFY" animate "$MONA" --driving "$HOPPER" --motion talk -o "$TMP/x.mp4"

# ---- 10: a still driver
"$VIVIFY" animate "$MONA" --driving "$HOPPER" -o "$TMP/still.png" 2>"$TMP/log"; rc=$?
ok "still driver to .png: exit $rc: $(tail -1 "$TMP/log")" -- [ "$rc" = 0 ]
ok "still .png: size $(size_of "$TMP/still.png"), want ${W}x${H}" -- [ "$(size_of "$TMP/still.png")" = "${W}x${H}" ]
ok "still: the summary line says still" -- grep -q "animate: still ${W}x${H}" "$TMP/log"
# the face changed (the portrait itself would be L1 0, SSIM 1); still the same person
"$VIVIFY" metrics "$MONA" "$TMP/still.png" --json >"$TMP/still.json" 2>/dev/null
l1="$(json_number L1 "$TMP/still.json")"; csim="$(json_number CSIM "$TMP/still.json")"
ok "still: L1 against the portrait ${l1:-?} (want > 0.002: the expression moved)" -- awk -v v="${l1:-0}" 'BEGIN { exit !(v > 0.002) }'
ok "still: CSIM against the portrait ${csim:-?} (want > 0.5: the same person)" -- awk -v v="${csim:-0}" 'BEGIN { exit !(v > 0.5) }'
"$VIVIFY" animate "$MONA" --driving "$HOPPER" -o "$TMP/still.jpg" 2>"$TMP/log"; rc=$?
ok "still driver to .jpg: exit $rc: $(tail -1 "$TMP/log")" -- eval '[ "$rc" = 0 ] && [ "$(size_of "$TMP/still.jpg")" = "${W}x${H}" ]'
"$VIVIFY" animate "$MONA" --driving "$HOPPER" -o "$TMP/still.mp4" 2>"$TMP/log"; rc=$?
ok "still driver to .mp4: exit $rc, $(frames_of "$TMP/still.mp4") frames (want 25)" -- eval '[ "$rc" = 0 ] && [ "$(frames_of "$TMP/still.mp4")" = 25 ]'
"$VIVIFY" animate "$MONA" --driving "$HOPPER" --compare -o "$TMP/cmp.png" 2>"$TMP/log"; rc=$?
cw="$(size_of "$TMP/cmp.png" | cut -dx -f1)"
ok "still --compare: exit $rc, ${cw:-?} px wide (want more than twice $W)" -- eval '[ "$rc" = 0 ] && [ "${cw:-0}" -gt $((2 * W)) ]'
expect 12 "still driver" -- "$VIVIFY" animate "$MONA" --motion talk -o "$TMP/x.png"
ffmpeg -v error -f lavfi -i "color=gray:size=128x128" -frames:v 1 "$TMP/grey.png"
expect 8 "no face found in .*grey.png" -- "$VIVIFY" animate "$MONA" --driving "$TMP/grey.png" -o "$TMP/x.png"
expect 2 "still image" -- "$VIVIFY" animate "$MONA" --driving "$HOPPER" --frames 3 -o "$TMP/x.png"
ok "a refused still left an output behind" -- eval '[ ! -e "$TMP/x.png" ] && ! ls "$TMP" | grep -q "\.tmp"'

# ---- 11: a template's audio, relative to it
mkdir -p "$TMP/a/clips" "$TMP/a/templates"
ffmpeg -v error -loop 1 -i "$MONA" -f lavfi -i "sine=frequency=300:duration=0.6" -t 0.6 -r 20 -vf "scale=256:-2" \
  -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/a/clips/drv.mp4"
"$VIVIFY" motion extract "$TMP/a/clips/drv.mp4" -o "$TMP/a/templates/m.json" 2>"$TMP/log"; rc=$?
ok "motion extract: exit $rc: $(tail -1 "$TMP/log")" -- [ "$rc" = 0 ]
ok "template audio: $(grep -o '"audio": [^,]*' "$TMP/a/templates/m.json") (want \"../clips/drv.mp4\")" -- \
  grep -q '"audio": "../clips/drv.mp4"' "$TMP/a/templates/m.json"
mv "$TMP/a" "$TMP/moved"
"$VIVIFY" animate "$MONA" --motion "$TMP/moved/templates/m.json" -o "$TMP/t.mp4" 2>"$TMP/log"; rc=$?
ok "moved template: exit $rc, audio kept: $(tail -1 "$TMP/log")" -- eval '[ "$rc" = 0 ] && has_audio "$TMP/t.mp4"'
rm "$TMP/moved/clips/drv.mp4"
"$VIVIFY" animate "$MONA" --motion "$TMP/moved/templates/m.json" -o "$TMP/t2.mp4" 2>"$TMP/log"; rc=$?
ok "template whose audio is gone: exit $rc, said without -v: $(grep -v frames "$TMP/log" | head -2)" -- \
  eval '[ "$rc" = 0 ] && grep -q "warning: the template.s audio .*moved/templates/../clips/drv.mp4 is missing" "$TMP/log" && ! has_audio "$TMP/t2.mp4"'

# ---- 12: metrics PORTRAIT VIDEO
"$VIVIFY" metrics "$MONA" "$TMP/still.mp4" --json --max-frames 4 >"$TMP/m.json" 2>"$TMP/log"; rc=$?
ok "metrics image video: exit $rc: $(tail -1 "$TMP/log")" -- [ "$rc" = 0 ]
ok "metrics image video: frames $(json_number frames "$TMP/m.json") (want 4)" -- [ "$(json_number frames "$TMP/m.json")" = 4 ]
ok "metrics image video: face_frames $(json_number face_frames "$TMP/m.json") (want 4)" -- [ "$(json_number face_frames "$TMP/m.json")" = 4 ]
ok "metrics image video: the image is held" -- grep -qE '"held":[[:space:]]*"a"' "$TMP/m.json"
csim="$(json_number CSIM "$TMP/m.json")"
ok "metrics image video: CSIM ${csim:-?} (want > 0.5)" -- awk -v v="${csim:-0}" 'BEGIN { exit !(v > 0.5) }'
out="$("$VIVIFY" metrics "$TMP/still.mp4" "$MONA" --max-frames 2 2>/dev/null)"
ok "metrics video image (text): $(head -1 <<<"$out")" -- grep -q "every frame of A against the image B" <<<"$out"

# ---- 13: eval finds the shipped model as animate does (models/ in the working folder)
if [ -s "$ROOT/models/fsth128.safetensors" ]; then
  ffmpeg -v error -loop 1 -i "$MONA" -vf "scale=256:384,zoompan=z='1+0.004*on':d=6:s=256x384:fps=25" -frames:v 6 \
    -pix_fmt yuv420p -y "$TMP/clip.mp4"
  (cd "$ROOT" && "$VIVIFY" eval --engine fsth --shots 1 --max-frames 1 --follow-frames 0 --threads 1 "$TMP/clip.mp4" \
    -o "$TMP/report") 2>"$TMP/log"; rc=$?
  ok "eval --engine fsth without --model: exit $rc: $(tail -1 "$TMP/log")" -- [ "$rc" = 0 ]
  ok "eval: says which model: $(grep shipped "$TMP/log")" -- grep -q "the shipped .*models/fsth128.safetensors" "$TMP/log"
  ok "eval: fsth reported unavailable" -- eval '! grep -q "unavailable" "$TMP/report/report.md"'
  ok "eval: an fsth row with values: $(grep -E '^\| fsth \| 1 \|' "$TMP/report/report.md" | head -1)" -- \
    grep -qE '^\| fsth \| 1 \| 1 \| 1 \| 0\.[0-9]' "$TMP/report/report.md"
fi

# ---- 14: serve --temp makes its folder; the overlay numbers the faces
"$VIVIFY" serve --port 0 --temp "$TMP/serve/new/tmp" -q >"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVER=$!
for _ in $(seq 100); do grep -q "http://" "$TMP/serve.out" 2>/dev/null && break; kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
ok "serve --temp NEW_DIR: $(cat "$TMP/serve.out" "$TMP/serve.err" | head -2)" -- grep -q "http://" "$TMP/serve.out"
ok "serve --temp: the folder was made" -- [ -d "$TMP/serve/new/tmp" ]
kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; SERVER=""
: >"$TMP/file"
expect 10 "--temp .*file is not a folder" -- "$VIVIFY" serve --port 0 --temp "$TMP/file"

# two faces side by side: the larger (Hopper, 2x) is face 1, as --face 1 takes it
ffmpeg -v error -i "$MONA" -i "$HOPPER" -filter_complex \
  "[0]scale=-2:300,pad=300:600:0:150:black[a];[1]scale=-2:600[b];[b][a]hstack" -frames:v 1 "$TMP/two.png"
"$VIVIFY" landmarks "$TMP/two.png" -o "$TMP/two.json" --overlay "$TMP/two_overlay.png" 2>"$TMP/log"; rc=$?
ok "landmarks two faces: exit $rc: $(tail -1 "$TMP/log")" -- [ "$rc" = 0 ]
ok "landmarks: says the overlay numbers them" -- grep -q "numbers them" "$TMP/log"
# face k's tag: at its box's top-left, above the box (cell = box width / 36, 2..12 px); digit 1
# has its top row's middle cell inked (black) and the left one not (the tag's green); digit 2's
# second row is inked on the right only.
boxes="$(tr -d ' \n' <"$TMP/two.json" | grep -oE '"box":\[[0-9.,-]+\]' | grep -oE '[0-9.-]+(,[0-9.-]+){3}')"
face=0
while IFS=, read -r x0 y0 x1 _; do
  face=$((face + 1))
  cell=$(awk -v w="$(awk -v a="$x0" -v b="$x1" 'BEGIN { print b - a }')" 'BEGIN { c = int(w / 36); print (c < 2 ? 2 : (c > 12 ? 12 : c)) }')
  tx=$(awk -v x="$x0" 'BEGIN { x = int(x); print (x < 0 ? 0 : x) }')
  ty=$(awk -v y="$y0" -v h=$((7 * cell)) 'BEGIN { t = int(y) - h; print (t < 0 ? int(y) : t) }')
  half=$((cell / 2))
  if [ "$face" = 1 ]; then ink="$(rgb $((tx + 2 * cell + half)) $((ty + cell + half)) "$TMP/two_overlay.png")"
                           tag="$(rgb $((tx + cell + half)) $((ty + cell + half)) "$TMP/two_overlay.png")"
  else ink="$(rgb $((tx + 3 * cell + half)) $((ty + 2 * cell + half)) "$TMP/two_overlay.png")"
       tag="$(rgb $((tx + cell + half)) $((ty + 2 * cell + half)) "$TMP/two_overlay.png")"; fi
  ok "overlay face $face: digit ink '$ink' (want 0 0 0), tag '$tag' (want 0 255 0)" -- eval '[ "$ink" = "0 0 0" ] && [ "$tag" = "0 255 0" ]'
done <<<"$boxes"
ok "landmarks: $face faces found, want 2" -- [ "$face" = 2 ]
if model_present facemesh.json; then
  ok "landmarks: both faces human: $(grep -o '"human": [a-z]*' "$TMP/two.json" | tr '\n' ' ')" -- \
    [ "$(grep -o '"human": true' "$TMP/two.json" | wc -l)" = 2 ]
fi

# 17: a dog's face (dlib's dogs.jpg, ../shared) alone, and beside a person's
skipped=0
DOGS="${VV_SHARED:-$ROOT/../shared}/data/landmarks_golden/dogs.jpg"
if [ -f "$DOGS" ] && model_present facemesh.json; then
  expect 8 "no face found in .*dogs.jpg: what the detector took for one at .* is no human face by the face mesh" -- \
    "$VIVIFY" landmarks "$DOGS" -o "$TMP/dogs.json"
  ok "landmarks of the dogs: no JSON left: $(ls "$TMP" | grep dogs)" -- eval '! ls "$TMP" | grep -q dogs'
  ffmpeg -v error -i "$DOGS" -i "$HOPPER" -filter_complex "[1]scale=300:-2[b];[0][b]overlay=0:0" -frames:v 1 "$TMP/dog_and_person.png"
  "$VIVIFY" landmarks "$TMP/dog_and_person.png" -o "$TMP/dp.json" 2>"$TMP/log"; rc=$?
  ok "landmarks dog and person: exit $rc, one human, one not: $(cat "$TMP/log")" -- eval '[ "$rc" = 0 ] \
    && [ "$(grep -o "\"human\": true" "$TMP/dp.json" | wc -l)" = 1 ] && [ "$(grep -o "\"human\": false" "$TMP/dp.json" | wc -l)" = 1 ] \
    && grep -q "face [12] is no human face by the face mesh" "$TMP/log"'
  # 18: 24 faces, 3 of them barely confident (0.78-0.80 beside 0.97) but human by the mesh
  BALD="${VV_SHARED:-$ROOT/../shared}/data/landmarks_golden/bald_guys.jpg"
  "$VIVIFY" landmarks "$BALD" -o "$TMP/bald.json" 2>"$TMP/log"; rc=$?
  numbers="$(grep -o '"face": [a-z0-9]*' "$TMP/bald.json" | awk '{print $2}' | tr '\n' ' ')"
  ok "landmarks bald_guys: exit $rc, numbers $numbers: $(cat "$TMP/log")" -- eval '[ "$rc" = 0 ] \
    && [ "$numbers" = "$(seq 1 24 | tr "\n" " ")" ] && ! grep -q "leaves out" "$TMP/log"'
  expect 2 "has only 24 faces" -- "$VIVIFY" animate "$BALD" --motion talk --face 25 -o "$TMP/bald.mp4"
else
  echo "SKIPPED items 17-18: need ../shared/data/landmarks_golden (dogs.jpg, bald_guys.jpg) and facemesh.json"; skipped=1
fi

# landmarks -o onto a pipe (or /dev/null) writes into it: a temp file renamed over it would
# replace the pipe (or, as root, the device) with a regular file
mkfifo "$TMP/fifo"
cat "$TMP/fifo" >"$TMP/from_fifo.json" &
reader=$!
"$VIVIFY" landmarks "$HOPPER" -o "$TMP/fifo" 2>"$TMP/log"; rc=$?
for _ in $(seq 50); do kill -0 "$reader" 2>/dev/null || break; sleep 0.1; done
kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null   # still waiting: nothing was written into the pipe
ok "landmarks -o FIFO: exit $rc, still a pipe, the JSON came through it: $(tail -1 "$TMP/log")" -- \
  eval '[ "$rc" = 0 ] && [ -p "$TMP/fifo" ] && grep -q "\"landmarks\"" "$TMP/from_fifo.json"'

echo "cli_usability: $passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
