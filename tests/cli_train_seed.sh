#!/usr/bin/env bash
# Determinism of `vivify train` (issue 8): two fresh runs with the same data, options and
# --seed write byte-identical checkpoints (model and training state) and the same losses at
# every step; another seed gives others.  The whole command path: dataset episodes and the
# faceres identity term (test_train.c checks the trainer alone on synthetic episodes).
# usage: cli_train_seed.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
command -v ffmpeg >/dev/null || { echo "SKIPPED: no ffmpeg"; exit 77; }
# Skipped only when a model is absent: a present but invalid one fails (exit 11 below).
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json faceres.json dlib; do
  model_present "$m" || { echo "SKIPPED: model $m not present (./dev setup)"; exit 77; }
done
# ok $(CHECK && echo 1) MESSAGE: a failed check leaves MESSAGE alone (no "1"): still a failure, not an abort under set -u.
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }

# A tiny dataset (as cli_engines.sh): two 1-second clips of a slow zoom on the portrait.
. "$ROOT/tests/lib/tiny_clips.sh"
tiny_clips "$ROOT" "$TMP" || { echo "SKIPPED: ffmpeg could not make the clips"; exit 77; }
"$VIVIFY" dataset build "$TMP/mona_a.mp4" "$TMP/lisa_b.mp4" -o "$TMP/tiny.vds" --size 32 --threads 1 -q 2>"$TMP/err"
rc=$?
ok $([ "$rc" = 0 ] && echo 1) "dataset build exit $rc: $(cat "$TMP/err")"

# train NAME SEED: 3 steps of a tiny model (identity term on, as by default).
train() {
  "$VIVIFY" train --data "$TMP/tiny.vds" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 3 \
    --val-every 0 --seed "$2" -q -o "$TMP/$1.safetensors" 2>"$TMP/$1.err"
  local rc=$?
  ok $([ "$rc" = 0 ] && echo 1) "train $1 (seed $2) exit $rc: $(cat "$TMP/$1.err")"
}
# The step lines of a run's log without the timings (ms, samples/s, GFLOP/s).
losses() { grep '^step ' "$TMP/$1.safetensors.log" | sed 's/ | lr .*//'; }
train a 3
train b 3
train c 4
ok $([ "$(losses a | wc -l)" = 3 ] && echo 1) "run a logged $(losses a | wc -l) steps, want 3"
ok $([ "$(losses a)" = "$(losses b)" ] && echo 1) "seed 3 twice, losses differ: $(losses a | head -1) / $(losses b | head -1)"
ok $(cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" && echo 1) "seed 3 twice: the models differ"
ok $(cmp -s "$TMP/a.safetensors.state" "$TMP/b.safetensors.state" && echo 1) "seed 3 twice: the training states differ"
ok $([ "$(losses a)" != "$(losses c)" ] && echo 1) "seeds 3 and 4 give the same losses"
ok $(cmp -s "$TMP/a.safetensors" "$TMP/c.safetensors" || echo 1) "seeds 3 and 4 give the same model"

echo "cli_train_seed: $passed passed, $failed failed"
[ "$failed" = 0 ]
