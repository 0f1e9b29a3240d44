#!/bin/sh
# Run every libFuzzer target for SECONDS (default 600) one after another, niced, each on
# a working corpus that starts from the committed seeds.  Crashers land in WORK/artifacts.
#   [FUZZ_TARGETS="image video"] scripts/fuzz_all.sh [SECONDS] [WORK]   (WORK: /tmp/vivify-fuzz)
# Afterwards, minimise a grown corpus into the repository with
#   build-fuzz/fuzz/fuzz_NAME -merge=1 fuzz/corpus/NAME WORK/corpus/NAME
set -eu
seconds=${1:-600}
work=${2:-/tmp/vivify-fuzz}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
targets=${FUZZ_TARGETS:-"image video shape_predictor tfjs safetensors motion landmark_json dataset"}

CC=clang cmake -S "$root" -B "$build" -DVV_FUZZ=ON -DVV_SANITIZE=ON -DVV_NATIVE=OFF \
    -DVV_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
for t in $targets; do cmake --build "$build" --target "fuzz_$t" -j2 >/dev/null; done

mkdir -p "$work/artifacts"
for t in $targets; do
    mkdir -p "$work/corpus/$t"
    cp -n "$root/fuzz/corpus/$t/"* "$work/corpus/$t/" 2>/dev/null || true
    dict=""
    case $t in motion|tfjs|safetensors|dataset) dict="-dict=$root/fuzz/json.dict" ;; esac
    echo "== $t: ${seconds}s"
    nice -n 10 "$build/fuzz/fuzz_$t" "$work/corpus/$t" $dict -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t-" >"$work/$t.log" 2>&1 || echo "!! $t stopped: see $work/$t.log"
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/$t.log" || true
done
