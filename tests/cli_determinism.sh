#!/usr/bin/env bash
# Determinism (issue 8): the same inputs and options give byte-identical output.
#   - vivify animate, PNG-sequence output of the bundled portrait (--motion talk
#     --duration 0.4), run twice: every frame file identical.  (Not across
#     thread counts: OpenBLAS on one thread vs several changes float summation order, a
#     few pixels by one level; docs/HARDENING.md.)
#   - vivify landmarks JSON of the bundled portraits, run twice: identical files.
# usage: cli_determinism.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib/check.sh"

# Same frame names and bytes in two PNG-sequence folders.
same_frames() {
  local a="$1" b="$2" n
  n="$(ls "$a" | grep -c '^frame_.*\.png$')"
  [ "$n" -gt 0 ] || { echo "no frames in $a"; return 1; }
  [ "$(ls "$a")" = "$(ls "$b")" ] || { echo "frame lists differ: $(ls "$a" | wc -l) vs $(ls "$b" | wc -l)"; return 1; }
  for f in "$a"/frame_*.png; do
    cmp -s "$f" "$b/$(basename "$f")" || { echo "$(basename "$f") differs"; return 1; }
  done
  echo "$n frames identical"
}

SOURCE="$ROOT/examples/mona_lisa.png"
for run in 1 2; do
  mkdir -p "$TMP/run$run"
  "$VIVIFY" animate "$SOURCE" --motion talk --duration 0.4 -o "$TMP/run$run/" >/dev/null 2>"$TMP/err$run"
  ok "$([ $? = 0 ] && echo 1)" "animate run $run failed: $(tail -1 "$TMP/err$run")"
done
msg="$(same_frames "$TMP/run1" "$TMP/run2")"
ok "$([ $? = 0 ] && echo 1)" "animate twice: $msg"
[ $failed = 0 ] && echo "animate twice: $msg"
# 0.4 s at the built-in 25 fps
ok "$([ "$(ls "$TMP/run1" | grep -c '^frame_')" = 10 ] && echo 1)" "animate: want 10 frames, got $(ls "$TMP/run1" | grep -c '^frame_')"

for image in mona_lisa.png grace_hopper.jpg; do
  for run in 1 2; do
    "$VIVIFY" landmarks "$ROOT/examples/$image" -o "$TMP/$image.$run.json" >/dev/null 2>"$TMP/lerr"
    ok "$([ $? = 0 ] && [ -s "$TMP/$image.$run.json" ] && echo 1)" "landmarks $image run $run failed: $(tail -1 "$TMP/lerr")"
  done
  ok "$(cmp -s "$TMP/$image.1.json" "$TMP/$image.2.json" && echo 1)" "landmarks $image: JSON differs between runs"
done

echo "cli_determinism: $passed passed, $failed failed"
[ "$failed" = 0 ]
