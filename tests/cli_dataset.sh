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

  # At scale (issue 15): a tree in VoxCeleb2's id/video/clip layout, 3 people x 2 videos x
  # 2 clips of 12 frames; clips processed 2 at a time, 5-clip shards.  Widths are multiples
  # of 16: FFmpeg 5.1's SIMD yuv420p->RGB24 leaves the last pixels of each row unwritten at
  # some others (150: 6 pixels), which makes a multi-clip build differ run to run.
  ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/mona_lisa.png" -frames:v 12 -r 10 \
    -vf "scale=180:-2,crop=160:224:x='n':y='n'" -pix_fmt yuv420p "$TMP/a.mp4"
  ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/grace_hopper.jpg" -frames:v 12 -r 10 \
    -vf "scale=224:-2,crop=208:208:x='n':y='n'" -pix_fmt yuv420p "$TMP/b.mp4"
  for id in id01 id02 id03; do for v in vidA vidB; do
    mkdir -p "$TMP/vox/$id/$v"
    for c in 00001 00002; do if [ $id = id02 ]; then cp "$TMP/b.mp4" "$TMP/vox/$id/$v/$c.mp4"
    else cp "$TMP/a.mp4" "$TMP/vox/$id/$v/$c.mp4"; fi; done
  done; done
  shards() { ls "$1" | grep -c '^shard-.*\.vds$'; }
  expect 0 "12 clips, 3 identities, 144 frames at 32x32" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 \
    --threads 2 --shard-size 5 -q -o "$TMP/v2"
  [ "$(shards "$TMP/v2")" = 3 ] && [ -s "$TMP/v2/manifest.vdsm" ] && passed=$((passed + 1)) \
    || { failed=$((failed + 1)); echo "FAIL: shards: $(ls "$TMP/v2")"; }
  out="$("$VIVIFY" dataset info "$TMP/v2" --clips --episodes 20)"
  if printf '%s' "$out" | grep -q "12 clips, 3 identities, 144 frames, 32x32 JPEG, 3 shards" \
     && printf '%s' "$out" | grep -qE "^id02/vidB/00001 +id02 +12 +12 " \
     && printf '%s' "$out" | grep -q "episodes: 20 read, 180 frames"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: dataset info of the shards: $out"; fi
  # Episodes by person: every person drawn, and the same draws as one file (below).
  by_person="$("$VIVIFY" dataset info "$TMP/v2" --episodes 30 --shots 4 --by person | grep '^episodes')"
  printf '%s' "$by_person" | grep -qE "episodes: 30 read, 150 frames .* of 12 clips, 3 of 3 people drawn" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: episodes by person: $by_person"; }
  expect 2 "by must be clip, person or identity" -- "$VIVIFY" dataset info "$TMP/v2" --episodes 3 --by sideways
  # One thread: the same bytes.
  "$VIVIFY" dataset build "$TMP/vox" --size 32 --threads 1 --shard-size 5 -q -o "$TMP/v1" 2>/dev/null
  diff -r "$TMP/v1" "$TMP/v2" >/dev/null && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: 1 and 2 threads differ"; }
  # A rerun keeps every finished shard.
  expect 0 "3 shards \(3 kept" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --shard-size 5 -q -o "$TMP/v2"
  # Killed (SIGKILL) after its first shard, rerun: the same bytes as the uninterrupted build.
  "$VIVIFY" dataset build "$TMP/vox" --size 32 --threads 1 --shard-size 2 -q -o "$TMP/full" 2>/dev/null
  "$VIVIFY" dataset build "$TMP/vox" --size 32 --threads 1 --shard-size 2 -q -o "$TMP/crash" 2>/dev/null &
  pid=$!
  for _ in $(seq 600); do [ -e "$TMP/crash/shard-000000.vds" ] && break; sleep 0.02; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [ -e "$TMP/crash/manifest.vdsm" ]; then
    echo "NOTE: the build finished before it was killed; resume checked on a finished build only"
  fi
  expect 0 "6 shards \([1-6] kept" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --threads 2 --shard-size 2 -q -o "$TMP/crash"
  diff -r "$TMP/full" "$TMP/crash" >/dev/null && passed=$((passed + 1)) \
    || { failed=$((failed + 1)); echo "FAIL: resumed build differs: $(diff -r "$TMP/full" "$TMP/crash" 2>&1 | head -3)"; }
  # Hold-out per person (the id folder): by list (a person or any of its clips' paths) and by hash.
  printf 'id02\n' > "$TMP/held.txt"
  expect 0 "8 clips, 2 identities" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --holdout "$TMP/held.txt" -q -o "$TMP/h1.vds"
  printf 'id03/vidB/00002\n' > "$TMP/held.txt"
  expect 0 "4 clips, 1 identities" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --holdout "$TMP/held.txt" \
    --split holdout -q -o "$TMP/h2.vds"
  "$VIVIFY" dataset info "$TMP/h2.vds" --clips | grep -qE "^id03/vidA/00001 +id03" && passed=$((passed + 1)) \
    || { failed=$((failed + 1)); echo "FAIL: held-out set by a clip path"; }
  # id01 hashes to 0.039, id02 to 0.526, id03 to 0.181 (docs/DATASET.md).
  expect 0 "8 clips, 2 identities" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --holdout-fraction 0.1 \
    --shard-size 3 -q -o "$TMP/h3"
  expect 0 "4 clips, 1 identities" -- "$VIVIFY" dataset build "$TMP/vox" --size 32 --holdout-fraction 0.1 \
    --split holdout -q -o "$TMP/h4.vds"
  "$VIVIFY" dataset info "$TMP/h4.vds" --clips | grep -qE "^id01/vidA/00001 +id01" && passed=$((passed + 1)) \
    || { failed=$((failed + 1)); echo "FAIL: held-out set by hash"; }
  # A shard whose clips all lack a face has no file but a record (shard-N.empty): a rerun
  # keeps it instead of tracking its clips again (the record is not rewritten).
  ffmpeg -loglevel error -f lavfi -i "color=c=gray:s=160x224:r=10" -frames:v 12 -pix_fmt yuv420p "$TMP/gray.mp4"
  mkdir -p "$TMP/voxe/id01/v" "$TMP/voxe/id02/v" "$TMP/voxe/id03/v"
  cp "$TMP/a.mp4" "$TMP/voxe/id01/v/00001.mp4"; cp "$TMP/a.mp4" "$TMP/voxe/id01/v/00002.mp4"
  cp "$TMP/gray.mp4" "$TMP/voxe/id02/v/00001.mp4"; cp "$TMP/gray.mp4" "$TMP/voxe/id02/v/00002.mp4"
  cp "$TMP/b.mp4" "$TMP/voxe/id03/v/00001.mp4"
  expect 0 "3 clips, 2 identities.* in 2 shards \(0 kept from an earlier run; 1 more of clips without a usable face \(0 kept\)\)" \
    -- "$VIVIFY" dataset build "$TMP/voxe" --size 32 --threads 2 --shard-size 2 -q -o "$TMP/ve"
  [ -s "$TMP/ve/shard-000001.empty" ] && [ ! -e "$TMP/ve/shard-000001.vds" ] \
    && grep -q '"no_face": \["id02/v/00001", "id02/v/00002"\]' "$TMP/ve/shard-000001.empty" && passed=$((passed + 1)) \
    || { failed=$((failed + 1)); echo "FAIL: empty shard record: $(ls "$TMP/ve")"; }
  cp -rp "$TMP/ve" "$TMP/ve0"; before="$(stat -c %y "$TMP/ve/shard-000001.empty")"
  expect 0 "in 2 shards \(2 kept from an earlier run; 1 more of clips without a usable face \(1 kept\)\)" \
    -- "$VIVIFY" dataset build "$TMP/voxe" --size 32 --threads 2 --shard-size 2 -q -o "$TMP/ve"
  [ "$(stat -c %y "$TMP/ve/shard-000001.empty")" = "$before" ] && diff -r "$TMP/ve0" "$TMP/ve" >/dev/null \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: the empty shard was rebuilt"; }
  # Another shard size in the same folder: records of another plan are not kept, stale ones go.
  expect 0 "in 3 shards \(0 kept from an earlier run; 2 more of clips without a usable face \(0 kept\)\)" \
    -- "$VIVIFY" dataset build "$TMP/voxe" --size 32 --threads 2 --shard-size 1 -q -o "$TMP/ve"
  [ "$(cd "$TMP/ve" && ls | tr '\n' ' ')" = "manifest.vdsm shard-000000.vds shard-000001.vds shard-000002.empty shard-000003.empty shard-000004.vds " ] \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: records after a new plan: $(ls "$TMP/ve")"; }
  # Training reads the shards as it reads one file: the same model.
  "$VIVIFY" dataset build "$TMP/vox" --size 32 --threads 2 -q -o "$TMP/v.vds" 2>/dev/null
  for by in person identity; do
    a="$("$VIVIFY" dataset info "$TMP/v2" --episodes 40 --shots 3 --by $by | grep '^episodes' | sed 's/ in .* s (.*);/;/')"
    b="$("$VIVIFY" dataset info "$TMP/v.vds" --episodes 40 --shots 3 --by $by | grep '^episodes' | sed 's/ in .* s (.*);/;/')"
    [ -n "$a" ] && [ "$a" = "$b" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: by $by: '$a' vs '$b'"; }
  done
  for d in v2 v.vds; do
    "$VIVIFY" train --data "$TMP/$d" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 3 \
      --val-every 0 --seed 3 -q -o "$TMP/m_$d.safetensors" 2>"$TMP/train.err" \
      || { failed=$((failed + 1)); echo "FAIL: train on $d: $(cat "$TMP/train.err")"; }
  done
  [ "$(grep -c '^step ' "$TMP/m_v2.safetensors.log" 2>/dev/null)" = 3 ] && cmp -s "$TMP/m_v2.safetensors" "$TMP/m_v.vds.safetensors" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: training on the shards differs from one file"; }
  # Episodes by person (--episodes person): the same from the shards as from one file, and
  # not the clip-drawn model.
  for d in v2 v.vds; do
    "$VIVIFY" train --data "$TMP/$d" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 3 --episodes person \
      --val-every 0 --seed 3 -q -o "$TMP/p_$d.safetensors" 2>"$TMP/train.err" \
      || { failed=$((failed + 1)); echo "FAIL: train --episodes person on $d: $(cat "$TMP/train.err")"; }
  done
  cmp -s "$TMP/p_v2.safetensors" "$TMP/p_v.vds.safetensors" && ! cmp -s "$TMP/p_v2.safetensors" "$TMP/m_v2.safetensors" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: training by person: shards and file differ, or equal by clip"; }
  expect 2 "episodes must be clip or person" -- "$VIVIFY" train --data "$TMP/v2" --episodes sideways -o "$TMP/x.safetensors"
  # The episode mode is in the training state: the person-drawn run resumed without
  # --episodes to step 5 is the uninterrupted 5-step run; resumed by clip, it is refused.
  cp "$TMP/p_v2.safetensors" "$TMP/r.safetensors"; cp "$TMP/p_v2.safetensors.state" "$TMP/r.safetensors.state"
  "$VIVIFY" train --data "$TMP/v2" --k 2 --batch 1 --steps 5 --resume --val-every 0 -q -o "$TMP/r.safetensors" 2>"$TMP/train.err" \
    && "$VIVIFY" train --data "$TMP/v2" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 5 --episodes person \
      --val-every 0 --seed 3 -q -o "$TMP/p5.safetensors" 2>>"$TMP/train.err" \
    && cmp -s "$TMP/r.safetensors" "$TMP/p5.safetensors" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: a run by person resumed without --episodes: $(cat "$TMP/train.err")"; }
  expect 2 "drew its episodes by person, not by clip" -- "$VIVIFY" train --data "$TMP/v2" --k 2 --batch 1 --steps 6 --resume \
    --episodes clip --val-every 0 -q -o "$TMP/r.safetensors"
  # The loss weights, rates, k, batch and seed are in the state too: a run with --regions 2
  # --lr-g 1e-4 resumed without them is the uninterrupted run; the log's header says them.
  "$VIVIFY" train --data "$TMP/v2" --size 32 --width 2 --bottleneck 1 --k 2 --steps 2 --regions 2 --lr-g 1e-4 \
    --val-every 0 --seed 3 -q -o "$TMP/w.safetensors" 2>"$TMP/train.err" \
    && "$VIVIFY" train --data "$TMP/v2" --steps 4 --resume --val-every 0 -q -o "$TMP/w.safetensors" 2>>"$TMP/train.err" \
    && "$VIVIFY" train --data "$TMP/v2" --size 32 --width 2 --bottleneck 1 --k 2 --steps 4 --regions 2 --lr-g 1e-4 \
      --val-every 0 --seed 3 -q -o "$TMP/w4.safetensors" 2>>"$TMP/train.err" \
    && cmp -s "$TMP/w.safetensors" "$TMP/w4.safetensors" \
    && [ "$(grep -c 'k 2 batch 1 seed 3 lr 0.0001/0.0002 .* regions 2 from step 2$' "$TMP/w.safetensors.log")" = 1 ] \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: a run with --regions 2 resumed without it: $(cat "$TMP/train.err")"; }
  # Given again, an option overrides the state's: --regions 0 from step 2 is another model.
  cp "$TMP/w4.safetensors" "$TMP/w0.safetensors"; cp "$TMP/w4.safetensors.state" "$TMP/w0.safetensors.state"
  "$VIVIFY" train --data "$TMP/v2" --steps 5 --resume --regions 0 --val-every 0 -q -o "$TMP/w0.safetensors" 2>"$TMP/train.err" \
    && "$VIVIFY" train --data "$TMP/v2" --steps 5 --resume --val-every 0 -q -o "$TMP/w4.safetensors" 2>>"$TMP/train.err" \
    && ! cmp -s "$TMP/w0.safetensors" "$TMP/w4.safetensors" \
    && grep -q 'regions 0 from step 4$' "$TMP/w0.safetensors.log" \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: --regions 0 given on resume: $(cat "$TMP/train.err")"; }
  # --flow from a hybrid: a flow model (its config says so) that trains on; from an fsth model: refused.
  expect 2 "flow needs a hybrid model; .* is not one" -- "$VIVIFY" train --data "$TMP/v2" --init "$TMP/m_v2.safetensors" --flow 2 \
    --k 2 --steps 1 --val-every 0 -q -o "$TMP/x.safetensors"
  "$VIVIFY" train --data "$TMP/v2" --size 32 --width 2 --bottleneck 1 --k 2 --steps 2 --hybrid --val-every 0 --seed 3 -q \
    -o "$TMP/h.safetensors" 2>/dev/null \
    && "$VIVIFY" train --data "$TMP/v2" --init "$TMP/h.safetensors" --flow 2 --k 2 --steps 2 --val-every 0 -q \
      -o "$TMP/hf.safetensors" 2>"$TMP/train.err" \
    && head -c 4096 "$TMP/hf.safetensors" | grep -aqF '\"residual\":true,\"flow\":true,\"flow_pixels\":2}' \
    && [ "$(grep -c '^step ' "$TMP/hf.safetensors.log")" = 2 ] \
    && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: train --init HYBRID --flow 2: $(cat "$TMP/train.err")"; }
  # A damaged video among the clips is left out and named; the others are built.
  cp -r "$TMP/vox" "$TMP/voxbad"; head -c 3000 "$TMP/a.mp4" > "$TMP/voxbad/id01/vidA/00003.mp4"
  err="$("$VIVIFY" dataset build "$TMP/voxbad" --size 32 --shard-size 5 -q -o "$TMP/vb" 2>&1)"
  if printf '%s' "$err" | grep -q "1 clips could not be read.*00003.mp4" && printf '%s' "$err" | grep -q "12 clips, 3 identities" \
     && grep -q '"unreadable": \[{"name": "id01/vidA/00003"' "$TMP/vb/shard-000000.vds"; then passed=$((passed + 1))
  else failed=$((failed + 1)); echo "FAIL: damaged clip in a tree: $err"; fi
  # Bad sharded input: one line, its exit code.
  expect 2 "is a file" -- "$VIVIFY" dataset build "$TMP/vox" --shard-size 5 -o "$TMP/v.vds"
  expect 2 "shard-size" -- "$VIVIFY" dataset build "$TMP/vox" --shard-size 0 -o "$TMP/v9"
  cp -r "$TMP/v2" "$TMP/bad"
  head -c 100 "$TMP/v2/manifest.vdsm" > "$TMP/bad/manifest.vdsm"
  expect 6 "manifest.vdsm" -- "$VIVIFY" dataset info "$TMP/bad"
  cp "$TMP/v2/manifest.vdsm" "$TMP/bad/"; cp "$TMP/v2/shard-000000.vds" "$TMP/bad/shard-000001.vds"
  expect 6 "does not match" -- "$VIVIFY" dataset info "$TMP/bad" --clips
  rm "$TMP/bad/shard-000001.vds"
  expect 3 "shard-000001.vds" -- "$VIVIFY" dataset info "$TMP/bad" --episodes 50
else
  echo "SKIPPED end-to-end part: models or ffmpeg missing"
  skipped=1
fi

echo "cli_dataset: $passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
