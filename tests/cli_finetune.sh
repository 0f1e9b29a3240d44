#!/usr/bin/env bash
# vivify finetune on a video: --k frames picked from a clip (a slow zoom over the bundled
# portrait) and a tiny model fine-tuned on them; a video without a usable face, and shots
# of two different people, stop before any training with one line and exit 8 / 2, nothing
# written; --any-person trains anyway.
# usage: cli_finetune.sh PATH/TO/vivify     (skipped, 77, without faceres/blazeface or ffmpeg)
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/models.sh"
if ! model_present faceres.json || ! model_present blazeface.json || ! model_present dlib || ! command -v ffmpeg >/dev/null; then
  echo "SKIPPED cli_finetune: needs faceres.json, blazeface.json, dlib's predictor (./dev setup) and ffmpeg"; exit 77
fi
passed=0
failed=0
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
expect() { # expect CODE PATTERN -- command...: exit CODE, one stderr line (less progress) matching PATTERN
  local code="$1" pattern="$2"; shift 3
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  err="$(printf '%s\n' "$err" | grep -vE '^[a-z]+: [0-9]+(/[0-9]+)? frames')"
  if [ "$rc" = "$code" ] && printf '%s' "$err" | grep -qE -- "$pattern" && [ "$(printf '%s' "$err" | grep -c .)" -le 1 ] \
     && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error|Segmentation"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: $* -> exit $rc (want $code), stderr: $err (want /$pattern/)"; fi
}
no_output() { if [ -e "$1" ]; then failed=$((failed + 1)); echo "FAIL: $1 left behind"; else passed=$((passed + 1)); fi; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
MONA="$ROOT/tests/fixtures/eval_identity_mona_lisa.png"
HOPPER="$ROOT/tests/fixtures/eval_identity_grace_hopper.png"

# A tiny model (32 px, width 2) trained for one step on a tiny dataset.
. "$ROOT/tests/lib/tiny_clips.sh"
tiny_clips "$ROOT" "$TMP" || { echo "FAIL: ffmpeg clip"; exit 1; }
"$VIVIFY" dataset build "$TMP/mona_a.mp4" "$TMP/lisa_b.mp4" -o "$TMP/tiny.vds" --size 32 --threads 1 -q 2>/dev/null \
  && "$VIVIFY" train --data "$TMP/tiny.vds" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 1 --identity 0 \
       --val-every 0 -q -o "$TMP/base.safetensors" 2>/dev/null || { echo "FAIL: tiny model"; exit 1; }
M="$TMP/base.safetensors"

# A video: --k frames picked of the 25 with a face, the person checked, then trained.
err="$("$VIVIFY" finetune "$M" "$TMP/mona_a.mp4" --k 3 --steps 1 --identity 0 -o "$TMP/p.safetensors" 2>&1 >/dev/null)"; rc=$?
ok $([ "$rc" = 0 ] && [ -s "$TMP/p.safetensors" ] && echo 1) "finetune on a video: exit $rc: $err"
ok $(grep -q "mona_a.mp4: 3 frames picked of 25 with a usable face" <<<"$err" && echo 1) "3 of 25 frames picked: $err"
ok $(grep -qE "3 shots of one person" <<<"$err" && echo 1) "one person: $err"
ok $(grep -qE "3 shots, 1 steps" <<<"$err" && echo 1) "trained on 3 shots: $err"
# Photos and a video together; more frames asked than the video has: all 25.
err="$("$VIVIFY" finetune "$M" "$MONA" "$TMP/mona_a.mp4" --k 40 --ff -o "$TMP/p2.safetensors" 2>&1 >/dev/null)"; rc=$?
ok $([ "$rc" = 0 ] && grep -q "25 frames picked of 25 with a usable face (fewer than --k)" <<<"$err" \
  && grep -q "26 shots, 0 steps" <<<"$err" && echo 1) "photo + video, --k over the frames: exit $rc: $err"

# No usable face: a grey video (exit 8); frames there but the face too small (exit 8).
ffmpeg -v error -f lavfi -i color=c=gray:s=160x120:r=25 -frames:v 10 -pix_fmt yuv420p "$TMP/grey.mp4"
expect 8 "no usable face in .*grey.mp4 \(10 frames" -- "$VIVIFY" finetune "$M" "$TMP/grey.mp4" -o "$TMP/q.safetensors" --steps 1 --identity 0
no_output "$TMP/q.safetensors"
ffmpeg -v error -f lavfi -i color=c=gray:s=640x480:r=25 -i "$MONA" -filter_complex "[1:v]scale=24:-2[f];[0:v][f]overlay=300:200" \
  -frames:v 10 -pix_fmt yuv420p "$TMP/tiny_face.mp4"
expect 8 "no usable face in .*tiny_face.mp4" -- "$VIVIFY" finetune "$M" "$TMP/tiny_face.mp4" -o "$TMP/q2.safetensors" --steps 1 --identity 0
no_output "$TMP/q2.safetensors"

# Two people: refused before training, naming a shot; --any-person goes ahead.
expect 2 "shots look like more than one person: .*(mona_lisa|grace_hopper).png has identity similarity" -- \
  "$VIVIFY" finetune "$M" "$MONA" "$HOPPER" -o "$TMP/q3.safetensors" --steps 1 --identity 0
no_output "$TMP/q3.safetensors"
err="$("$VIVIFY" finetune "$M" "$MONA" "$HOPPER" --any-person -o "$TMP/q4.safetensors" --steps 1 --identity 0 2>&1 >/dev/null)"; rc=$?
ok $([ "$rc" = 0 ] && [ -s "$TMP/q4.safetensors" ] && echo 1) "--any-person: exit $rc: $err"
# The same photo twice is one person.
err="$("$VIVIFY" finetune "$M" "$MONA" "$MONA" -o "$TMP/r.safetensors" --ff 2>&1 >/dev/null)"; rc=$?
ok $([ "$rc" = 0 ] && grep -q "2 shots of one person" <<<"$err" && echo 1) "one photo twice: exit $rc: $err"

# A missing shot: exit 3 before the model loads.
expect 3 "file not found: .*nowhere.jpg" -- "$VIVIFY" finetune "$M" "$TMP/nowhere.jpg" -o "$TMP/q6.safetensors"
no_output "$TMP/q6.safetensors"

# Bad --k: usage, exit 2.
expect 2 "--k" -- "$VIVIFY" finetune "$M" "$TMP/mona_a.mp4" --k 0 -o "$TMP/q5.safetensors"
expect 2 "--k" -- "$VIVIFY" finetune "$M" "$TMP/mona_a.mp4" --k 65 -o "$TMP/q5.safetensors"
no_output "$TMP/q5.safetensors"
# --augment: a share, 0 (off) to 1.
expect 2 "--augment" -- "$VIVIFY" finetune "$M" "$TMP/mona_a.mp4" --augment 1.5 -o "$TMP/q7.safetensors"
no_output "$TMP/q7.safetensors"
err="$("$VIVIFY" finetune "$M" "$TMP/mona_a.mp4" --k 2 --steps 1 --identity 0 --augment 0 -o "$TMP/a0.safetensors" 2>&1 >/dev/null)"; rc=$?
ok $([ "$rc" = 0 ] && [ -s "$TMP/a0.safetensors" ] && echo 1) "--augment 0: exit $rc: $err"

echo "cli_finetune: $passed passed, $failed failed"
[ "$failed" = 0 ]
