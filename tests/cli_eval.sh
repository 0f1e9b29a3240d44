#!/usr/bin/env bash
# vivify metrics and vivify eval from the command line: an image against itself (SSIM 1,
# PSNR inf; JSON writes the string "inf"), a tiny eval run on a clip made from
# examples/mona_lisa.png (report.md / report.json structure and sane values), the
# following metrics on a talking clip made with vivify animate (lag 0, trusted; the frames
# saved; test_eval checks them against vivify animate's and the freeze baseline), bad input.
# usage: cli_eval.sh PATH/TO/vivify      (skipped, 77, without .cache/models or ffmpeg)
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/models.sh" # where vivify looks: $VIVIFY_MODELS, then .cache/models
if ! model_present faceres.json || ! model_present blazeface.json || ! command -v ffmpeg >/dev/null; then
  echo "SKIPPED cli_eval: needs faceres.json, blazeface.json (./dev setup) and ffmpeg"; exit 77
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
ok() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }
# expect CODE PATTERN -- command...: exit code CODE and stderr matching PATTERN, no crash.
expect() {
  local code="$1" pattern="$2"; shift 3
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = "$code" ] && printf '%s' "$err" | grep -qE "$pattern" \
     && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error|Segmentation"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $* -> exit $rc (want $code), stderr: $err (want /$pattern/)"
  fi
}
MONA="$ROOT/examples/mona_lisa.png"

# metrics: an image against itself
out="$("$VIVIFY" metrics "$MONA" "$MONA")"; rc=$?
ok [ "$rc" = 0 ]
ok grep -qE "SSIM +1\.0000" <<<"$out"
ok grep -qE "PSNR +inf" <<<"$out"
ok grep -qE "CSIM +1\.0000" <<<"$out"
json="$("$VIVIFY" metrics "$MONA" "$MONA" --json)"
ok grep -qE '"SSIM":[[:space:]]*1,' <<<"$json"
ok grep -qE '"PSNR":[[:space:]]*"inf"' <<<"$json"
ok grep -qE '"face_frames":[[:space:]]*1' <<<"$json"
# against another person: finite PSNR, low CSIM
out="$("$VIVIFY" metrics "$MONA" "$ROOT/examples/grace_hopper.jpg" --json)"
ok grep -qE '"b_resized":[[:space:]]*true' <<<"$out"
csim="$(grep -oE '"CSIM":[[:space:]]*[0-9.]+' <<<"$out" | grep -oE '[0-9.]+$')"
ok awk -v c="$csim" 'BEGIN { exit !(c > 0 && c < 0.6) }'

# a tiny clip: 12 frames of the Mona Lisa slowly zooming in
ffmpeg -v error -loop 1 -i "$MONA" -vf "scale=256:384,zoompan=z='1+0.004*on':d=12:s=256x384:fps=25" -frames:v 12 \
  -pix_fmt yuv420p -y "$TMP/mona.mp4"
ok [ -s "$TMP/mona.mp4" ]
# metrics between two videos: the clip against itself, frame by frame
json="$("$VIVIFY" metrics "$TMP/mona.mp4" "$TMP/mona.mp4" --json --max-frames 3)"
ok grep -qE '"frames":[[:space:]]*3' <<<"$json"
ok grep -q '"per_frame"' <<<"$json"

mkdir "$TMP/portraits" && cp "$ROOT/examples/grace_hopper.jpg" "$TMP/portraits/"
"$VIVIFY" eval --engine warp,fsth --shots 1,4 --max-frames 2 --follow-frames 0 "$TMP/mona.mp4" --portraits "$TMP/portraits" \
  -o "$TMP/report" 2>"$TMP/eval.log"; rc=$?
ok [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$TMP/eval.log"
ok [ -s "$TMP/report/report.md" ]
ok [ -s "$TMP/report/report.json" ]
ok [ -s "$TMP/report/plots/self_mona.png" ]
ok [ -s "$TMP/report/samples/self_mona_warp_K1.png" ]
ok [ -s "$TMP/report/samples/cross_grace_hopper_from_mona_warp.png" ]
md="$(cat "$TMP/report/report.md" 2>/dev/null)"
ok grep -q "## Self-reenactment" <<<"$md"
ok grep -q "## Cross-reenactment" <<<"$md"
# fsth without --model: the shipped model where vivify finds it (beside the binary: a build
# inside the checkout, as ./dev test's), else the engine is reported unavailable.
if [ -f "$(dirname "$VIVIFY")/../models/fsth128.safetensors" ]; then
  ok grep -q "without --model: the shipped .*fsth128.safetensors" "$TMP/eval.log"
  ok grep -qE '^\| fsth \| 1 \| 1 \| 2 \| 0\.[0-9]+ \|' <<<"$md"
else
  ok grep -q "| fsth | 1 | - | - |" <<<"$md"
  ok grep -q "unavailable: engine 'fsth' needs --model" <<<"$md"
fi
# the warp K=1 summary row: SSIM (5th column) between 0.5 and 1
ssim="$(grep -E '^\| warp \| 1 \| 1 \|' <<<"$md" | head -1 | awk -F'|' '{ print $6 }')"
ok awk -v s="$ssim" 'BEGIN { exit !(s > 0.5 && s < 1) }'
# FD-faceres: a summary column (self-reenactment) and a finite, non-negative JSON number
ok grep -q "| FD-faceres ↓ |" <<<"$md"
fd="$(grep -oE '"FD-faceres":[[:space:]]*[0-9.eE+-]+' "$TMP/report/report.json" | head -1 | grep -oE '[0-9.eE+-]+$')"
ok awk -v d="$fd" 'BEGIN { exit !(d != "" && d + 0 >= 0 && d + 0 < 1e6) }'
ok grep -qE '"format":[[:space:]]*"vivify-eval"' "$TMP/report/report.json"
ok grep -q '"self_reenactment"' "$TMP/report/report.json"
ok grep -q '"cross_reenactment"' "$TMP/report/report.json"
ok grep -qE '"follow_frames":[[:space:]]*0' "$TMP/report/report.json"
! grep -q '"follow":' "$TMP/report/report.json"; ok [ $? = 0 ]   # --follow-frames 0: not measured

# The following metrics: a 2-second talking clip (vivify animate --motion talk on a 256-px
# Grace Hopper), turned 6 degrees back and forth every 20 frames (a roll to follow).
ffmpeg -v error -i "$ROOT/examples/grace_hopper.jpg" -vf scale=256:256 -y "$TMP/hopper.png"
"$VIVIFY" animate "$TMP/hopper.png" --motion talk --duration 2 --size 256 --no-audio -o "$TMP/talk_raw.mp4" 2>/dev/null
ffmpeg -v error -i "$TMP/talk_raw.mp4" -vf "rotate='6*PI/180*sin(2*PI*n/20)'" -pix_fmt yuv420p -y "$TMP/talk.mp4"
ok [ -s "$TMP/talk.mp4" ]
"$VIVIFY" eval --engine warp --shots 1 --max-frames 2 --size 256 --save-frames "$TMP/frames" "$TMP/talk.mp4" \
  -o "$TMP/follow" 2>"$TMP/follow.log"; rc=$?
ok [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$TMP/follow.log"
md="$(cat "$TMP/follow/report.md" 2>/dev/null)"
ok grep -q "^Following (mean over clips" <<<"$md"
ok grep -q "| engine | K | clips | frames | Lag (frames) | Lag (sub-frame) | Conf ↑ | Mouth r ↑ | Blinks |" <<<"$md"
ok grep -qE "^\| talk \| warp \| 1 \| 49 \| 0 \| " <<<"$md"          # lag 0, trusted (no ?)
ok [ -s "$TMP/follow/plots/follow_self_talk.png" ]
# report.json: the per-clip "follow" object and the summary's "follow_mean"
json="$(tr -d ' \n\t' <"$TMP/follow/report.json")"
ok grep -q '"follow":{"start":1,"frames":49,"output_faces":49' <<<"$json"
ok grep -qE '"lag_frames":0,"lag_subframe":-?0\.[0-9]+,"lag_confidence":0\.[5-9][0-9]*,"lag_margin":[0-9.e+-]+,"lag_trusted":true' <<<"$json"
ok grep -q '"follow_mean":{"clips":1,"frames":49,"lag_trusted_clips":1' <<<"$json"
ok grep -q '"follow_metrics":{' <<<"$json"
# the blink closure by the face mesh's lids beside dlib's: talk's one blink (frames 32-34,
# dlib's eye aspect 0.31 -> 0.17) counts once its shut lids read shut (since the lids'
# shading); then both closures are numbers, none without a blink
ok grep -q "| Closure drv->out | Lid closure drv->out | EAR gap |" <<<"$md"
ok grep -qE '"lid_blinks":0,"lid_closure_driver":null,"lid_closure_output":null|"lid_blinks":1,"lid_closure_driver":0\.[0-9]+,"lid_closure_output":0\.[0-9]+' <<<"$json"
ok grep -q '"lid_closure_output":"Lidclosuredrv->out:' <<<"$json"  # (spaces stripped)
# --save-frames: every frame rendered (the stretch 1..49 holds the sampled ones), as PNG
ok [ "$(ls "$TMP/frames" | grep -c '^self_talk_warp_K1_000[0-9][0-9]\.png$')" = 49 ]
ok [ -s "$TMP/frames/self_talk_warp_K1_00001.png" ]

# bad input
expect 2 "needs two inputs" -- "$VIVIFY" metrics "$MONA"
expect 3 "file not found" -- "$VIVIFY" metrics "$MONA" "$TMP/nothing.png"
printf 'not a png' >"$TMP/bad.png"
expect 5 "bad.png" -- "$VIVIFY" metrics "$MONA" "$TMP/bad.png"
expect 2 "needs -o" -- "$VIVIFY" eval "$TMP/mona.mp4"
expect 2 "needs at least one clip" -- "$VIVIFY" eval -o "$TMP/r2"
expect 2 "unknown engine 'magic'" -- "$VIVIFY" eval --engine warp,magic "$TMP/mona.mp4" -o "$TMP/r2"
expect 2 "shots expects" -- "$VIVIFY" eval --shots 1,0 "$TMP/mona.mp4" -o "$TMP/r2"
expect 2 "shots expects" -- "$VIVIFY" eval --shots 8,8 "$TMP/mona.mp4" -o "$TMP/r2"
expect 2 "protocol cross needs --portraits" -- "$VIVIFY" eval --protocol cross "$TMP/mona.mp4" -o "$TMP/r2"
expect 3 "file not found" -- "$VIVIFY" eval "$TMP/none.mp4" -o "$TMP/r2"
expect 3 "portraits" -- "$VIVIFY" eval "$TMP/mona.mp4" --portraits "$TMP/no_dir" -o "$TMP/r2"
expect 6 "bad.png" -- "$VIVIFY" eval "$TMP/bad.png" -o "$TMP/r2"
expect 2 "follow-frames expects" -- "$VIVIFY" eval --follow-frames -1 "$TMP/mona.mp4" -o "$TMP/r2"
expect 2 "delay expects" -- "$VIVIFY" eval --delay 26 "$TMP/mona.mp4" -o "$TMP/r2"

echo "cli_eval: $passed passed, $failed failed"
[ "$failed" = 0 ]
