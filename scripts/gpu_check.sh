#!/usr/bin/env bash
# scripts/gpu_check.sh: the CUDA backend checked on a machine with a GPU (issue 15, item 2),
# in one go, a few minutes:
#   1. builds vivify and tests/test_cuda.c with -DVV_CUDA=ON (build-cuda/, or $VV_GPU_BUILD);
#   2. test_cuda: every op of the backend table, forward and backward, against the CPU backend
#      (tolerances in tests/test_cuda.c's header: 1e-5 elementwise / norms forward, 1e-4 norms
#      backward, GEMM and convolutions; losses 1e-5 of the value; a 5-step training chain
#      conv / AdaIN+ReLU / conv / tanh / L1 / Adam: each loss within 1e-4, parameters 1e-3),
#      and the staged backend (host pointers: what --device cuda uses) the same;
#   3. vivify train, 3 steps --device cpu against --device cuda: every logged G and D loss
#      within 1e-3 relative (absolute 1e-3 near 0);
#   4. training speed with --device cuda: samples/s at 128 and 256 px, widths 16 and 64
#      (the median of the steps after the first), and 128 / width 16 on the CPU beside it.
# Exit 0 when 2 and 3 pass; a summary at the end (also in $OUT/gpu_check.txt when $OUT is set).
#
# Data: $VV_GPU_DATA (a .vds), else tests/fixtures/dataset_v1.vds (3 clips of 4 frames at
# 32 px, upscaled by the trainer: so K = 3, and the speed is the model's, not the reader's).
# Environment: VV_GPU_BUILD (build folder), VV_GPU_ARCH (CMAKE_CUDA_ARCHITECTURES; default the
# project's 80-real;90), VV_GPU_BATCH (episodes per step for the speed runs, default 4),
# VV_GPU_STEPS (steps per speed run, default 4), VV_GPU_TIMEOUT (seconds per training run,
# default 150).  A build folder that is already built (e.g.
# carried to the machine) is reused when cmake cannot configure there.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${VV_GPU_BUILD:-$root/build-cuda}
data=${VV_GPU_DATA:-$root/tests/fixtures/dataset_v1.vds}
batch=${VV_GPU_BATCH:-4}
steps=${VV_GPU_STEPS:-4}
limit=${VV_GPU_TIMEOUT:-150}
work=$(mktemp -d /tmp/vv_gpu_check.XXXXXX)
# The summary and logs go straight to $OUT when set, so a run cut short still leaves them.
report_dir=${OUT:-$work}
mkdir -p "$report_dir/gpu_check_logs"
summary=$report_dir/gpu_check.txt
logs=$report_dir/gpu_check_logs
: >"$summary"
fail=0
say() { echo "$*" | tee -a "$summary"; }
finish() {
  echo
  echo "==== gpu_check summary ===="
  cat "$summary"
  echo "(summary $summary, logs in $logs)"
  exit "$fail"
}

say "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
if command -v nvidia-smi >/dev/null; then
  say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
else
  say "GPU: nvidia-smi not found"
fi
say "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo 'not found')"

# ---- 1. build ----
arch_flag=()
[ -n "${VV_GPU_ARCH:-}" ] && arch_flag=(-DCMAKE_CUDA_ARCHITECTURES="$VV_GPU_ARCH")
t0=$(date +%s)
if cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DVV_CUDA=ON -DVV_BUILD_TESTS=ON "${arch_flag[@]}" \
     >"$logs/cmake.log" 2>&1 &&
   make -C "$build" -j"$(nproc)" vivify_cli test_cuda >"$logs/build.log" 2>&1; then
  say "build: ok in $(( $(date +%s) - t0 )) s ($build)"
elif [ -x "$build/vivify" ] && [ -x "$build/test_cuda" ]; then
  say "build: FAILED here (logs/cmake.log, logs/build.log); using the binaries already in $build"
  tail -5 "$logs/cmake.log" "$logs/build.log"
else
  say "build: FAILED and no binaries in $build (logs/cmake.log, logs/build.log)"
  tail -20 "$logs/cmake.log" "$logs/build.log"
  fail=1
  finish
fi
vivify=$build/vivify
"$vivify" --version | sed 's/^/  /' | tee -a "$summary"

# ---- 2. every op against the CPU backend ----
t0=$(date +%s)
OPENBLAS_NUM_THREADS=1 "$build/test_cuda" >"$logs/test_cuda.log" 2>&1
rc=$?
grep -E "^(GPU|cuda|cuda-staged) " "$logs/test_cuda.log" >"$work/ops.txt"
if [ $rc = 0 ]; then
  say "test_cuda: PASS in $(( $(date +%s) - t0 )) s: $(tail -1 "$logs/test_cuda.log")"
else
  say "test_cuda: FAIL (exit $rc; 77 = no GPU): $(tail -1 "$logs/test_cuda.log")"
  grep -E "CHECK failed|SKIPPED" "$logs/test_cuda.log" | head -30 | tee -a "$summary"
  fail=1
fi
sed 's/^/  /' "$work/ops.txt" | tee -a "$summary"

# ---- 3. a few training steps, CPU and CUDA ----
train() { # device size width steps batch k name
  local dir=$work/$7
  mkdir -p "$dir"
  timeout "$limit" "$vivify" train --data "$data" -o "$dir/m.safetensors" --size "$2" --width "$3" --steps "$4" \
    --batch "$5" --k "$6" --identity 0 --val-every 0 --checkpoint-every 1000000 --seed 1 --device "$1" \
    >"$logs/$7.out" 2>&1
  local rc=$?
  cp "$dir/m.safetensors.log" "$logs/$7.log" 2>/dev/null
  rm -rf "$dir"
  return $rc
}
losses() { grep '^step ' "$1" | sed -E 's/^step ([0-9]+)\/[0-9]+ \| G ([-0-9.e+]+) .*\| D ([-0-9.e+]+) .*/\1 \2 \3/'; }
if train cpu 64 8 3 2 3 steps_cpu && train cuda 64 8 3 2 3 steps_cuda; then
  losses "$logs/steps_cpu.log" >"$work/l_cpu"
  losses "$logs/steps_cuda.log" >"$work/l_cuda"
  if [ "$(wc -l <"$work/l_cpu")" = 3 ] && paste "$work/l_cpu" "$work/l_cuda" | awk '
      function bad(a, b) { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; return d > 1e-3 * (m > 1 ? m : 1) }
      { printf "  step %d: G cpu %s cuda %s | D cpu %s cuda %s\n", $1, $2, $5, $3, $6
        if ($1 != $4 || bad($2, $5) || bad($3, $6)) worse = 1 }
      END { exit worse }' | tee -a "$summary"; [ "${PIPESTATUS[1]}" = 0 ]; then
    say "training steps (64 px, width 8, batch 2, K 3): CPU and CUDA losses agree within 1e-3: PASS"
  else
    say "training steps: CPU and CUDA losses differ beyond 1e-3 (or missing): FAIL"
    fail=1
  fi
  grep '^cuda:' "$logs/steps_cuda.out" | sed 's/^/  /' | tee -a "$summary"
else
  say "training steps: a run failed: FAIL"
  for f in steps_cpu steps_cuda; do say "  $f: $(tail -1 "$logs/$f.out")"; done
  fail=1
fi

# ---- 4. speed ----
median_rate() { grep '^step ' "$1" | tail -n +2 | sed -E 's/.*\| ([0-9.]+) samples\/s.*/\1/' | sort -g |
                awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
say "speed (vivify train --device cuda, batch $batch, K 3, identity term off, median of steps 2-$steps; samples/s):"
for cfg in "128 16" "128 64" "256 16" "256 64"; do
  set -- $cfg
  t0=$(date +%s)
  if train cuda "$1" "$2" "$steps" "$batch" 3 "speed_cuda_$1_$2"; then
    say "  cuda ${1} px width ${2}: $(median_rate "$logs/speed_cuda_$1_$2.log") samples/s ($(( $(date +%s) - t0 )) s for $steps steps)"
  else
    say "  cuda ${1} px width ${2}: failed: $(tail -1 "$logs/speed_cuda_$1_$2.out")"
  fi
done
if train cpu 128 16 "$steps" "$batch" 3 speed_cpu_128_16; then
  say "  cpu  128 px width 16: $(median_rate "$logs/speed_cpu_128_16.log") samples/s ($(nproc) cores)"
fi
finish
