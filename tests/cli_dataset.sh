#!/usr/bin/env bash
# vivify dataset build / info: usage errors, bad input (one line, distinct exit code, no
# output left behind), and a tiny end-to-end build from a clip made of examples/mona_lisa.png.
# usage: cli_dataset.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# expect CODE PATTERN -- command...: exit code CODE, stderr's last line matches PATTERN.
expect() {
  local code="$1" pattern="$2"; shift 3
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = "$code" ] && printf '%s' "$err" | tail -1 | grep -qE "$pattern" \
     && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error|Segmentation"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $* -> exit $rc (want $code), stderr: $err (want /$pattern/)"
  fi
}
no_output() {
  if [ -e "$1" ] || ls -A "$(dirname "$1")" | grep -q "tmp-"; then
    failed=$((failed + 1)); echo "FAIL: output left behind at $1"
  else passed=$((passed + 1)); fi
}

expect 2 "subcommand" -- "$VIVIFY" dataset
expect 2 "subcommand" -- "$VIVIFY" dataset frobnicate
expect 2 "needs clips" -- "$VIVIFY" dataset build -o "$TMP/x.vds"
expect 2 "needs clips" -- "$VIVIFY" dataset build "$ROOT/examples"
expect 2 "split must be" -- "$VIVIFY" dataset build "$ROOT/examples" --split sideways -o "$TMP/x.vds"
expect 2 "holdout" -- "$VIVIFY" dataset build "$ROOT/examples" --split train -o "$TMP/x.vds"
expect 2 "size" -- "$VIVIFY" dataset build "$ROOT/examples" --size 2 -o "$TMP/x.vds"
expect 3 "no_such" -- "$VIVIFY" dataset build "$TMP/no_such.mp4" -o "$TMP/x.vds"
expect 3 "no video clips" -- "$VIVIFY" dataset build "$ROOT/examples" -o "$TMP/x.vds"
no_output "$TMP/x.vds"
expect 2 "one FILE" -- "$VIVIFY" dataset info
expect 3 "no_such" -- "$VIVIFY" dataset info "$TMP/no_such.vds"
expect 5 "not a vivify dataset" -- "$VIVIFY" dataset info "$ROOT/examples/mona_lisa.png"
printf '\x89VDS\r\n\x1a\n\x01\x00\x00\x00' > "$TMP/short.vds"
expect 6 "truncated" -- "$VIVIFY" dataset info "$TMP/short.vds"
"$VIVIFY" dataset --help | grep -q "dataset build" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: dataset --help"; }

# End to end (needs the face models and ffmpeg; without them the test reports skipped, 77).
. "$ROOT/tests/lib/models.sh"
skipped=0
if model_present blazeface.json && model_present dlib && command -v ffmpeg >/dev/null; then
  mkdir -p "$TMP/clips"
  ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/mona_lisa.png" -frames:v 6 -r 10 \
    -vf "scale=160:-2,crop=150:220:x='2*n':y='n'" -pix_fmt yuv420p "$TMP/clips/mona_clip1.mp4"
  expect 0 "1 clips, 1 identities, 6 frames at 64x64" -- "$VIVIFY" dataset build "$TMP/clips" --size 64 -o "$TMP/m.vds"
  expect 0 "1 clips, 1 identities, 6 frames at 64x64" -- "$VIVIFY" dataset build "$TMP/clips/mona_clip1.mp4" --size 64 -q -o "$TMP/m2.vds"
  cmp -s "$TMP/m.vds" "$TMP/m2.vds" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: two builds differ"; }
  out="$("$VIVIFY" dataset info "$TMP/m.vds" --clips --sheet "$TMP/sheet.png")"
  if printf '%s' "$out" | grep -qE "^mona_clip1 +mona +6 +6" && [ -s "$TMP/sheet.png" ]; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: dataset info: $out"; fi
  printf 'mona_clip7\n' > "$TMP/holdout.txt"
  expect 2 "none of the 1 input clips is in the train split" -- "$VIVIFY" dataset build "$TMP/clips" \
    --holdout "$TMP/holdout.txt" -o "$TMP/none.vds"
  no_output "$TMP/none.vds"
else
  echo "SKIPPED end-to-end part: models or ffmpeg missing"
  skipped=1
fi

echo "cli_dataset: $passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
