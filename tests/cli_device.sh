#!/usr/bin/env bash
# --device cpu|cuda of train, finetune and animate (cli/device.c): a value that is neither
# is a usage error (exit 2); cuda in a build without CUDA, or where no GPU is found, is one
# line and exit 12 (unsupported), never a crash; cpu trains as before.  In a CUDA build on a
# GPU machine, a 2-step training with --device cuda must run its convolutions on the GPU.
# usage: cli_device.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
DATA="$ROOT/tests/fixtures/dataset_v1.vds"
TRAIN=(train --data "$DATA" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 2 --identity 0 --val-every 0)

for cmd in train finetune animate; do
  if [ $cmd = train ]; then args=(--data x); else args=(x); fi
  "$VIVIFY" $cmd --device tpu "${args[@]}" -o "$TMP/y" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  ok $([ "$rc" = 2 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "^vivify: --device must be cpu or cuda, not 'tpu'$" "$TMP/err" && echo 1) \
    "$cmd --device tpu: exit $rc (2 expected), stderr: $(cat "$TMP/err")"
done

built=0
"$VIVIFY" --version | grep -q '^  cuda    yes' && built=1
"$VIVIFY" "${TRAIN[@]}" --device cuda -o "$TMP/cuda.safetensors" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $built = 0 ]; then
  ok $([ "$rc" = 12 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q 'built without CUDA' "$TMP/err" && echo 1) \
    "train --device cuda without CUDA: exit $rc (12 expected), stderr: $(cat "$TMP/err")"
  for cmd in finetune animate; do
    "$VIVIFY" $cmd --device cuda x -o "$TMP/y" >"$TMP/out" 2>"$TMP/err2"
    rc2=$?
    ok $([ "$rc2" = 12 ] && [ "$(wc -l <"$TMP/err2")" = 1 ] && echo 1) "$cmd --device cuda without CUDA: exit $rc2, stderr: $(cat "$TMP/err2")"
  done
elif grep -q 'no CUDA GPU' "$TMP/err"; then
  ok $([ "$rc" = 12 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && echo 1) \
    "train --device cuda with no GPU: exit $rc (12 expected), stderr: $(cat "$TMP/err")"
else # a CUDA build on a GPU
  ok $([ "$rc" = 0 ] && grep -Eq '^cuda: [1-9][0-9]* convolutions' "$TMP/err" && echo 1) \
    "train --device cuda on a GPU: exit $rc, stderr: $(tail -3 "$TMP/err")"
fi

"$VIVIFY" "${TRAIN[@]}" --device cpu -q -o "$TMP/cpu.safetensors" >"$TMP/out" 2>"$TMP/err"
rc=$?
ok $([ "$rc" = 0 ] && [ "$(grep -c '^step ' "$TMP/cpu.safetensors.log")" = 2 ] && echo 1) \
  "train --device cpu: exit $rc, stderr: $(cat "$TMP/err")"

echo "cli_device: $passed passed, $failed failed"
[ "$failed" = 0 ]
