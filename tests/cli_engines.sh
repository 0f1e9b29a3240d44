#!/usr/bin/env bash
# vivify animate --engine fsth|hybrid end to end: a tiny model is meta-trained for two
# steps on a tiny dataset made here (a slow zoom over the bundled portrait), then
# animates the portrait, feed-forward and after `vivify finetune` on it; the videos have
# the motion's frame count and the portrait's size.  Missing, garbage and mismatched models: one line, exit 11, nothing written.
# usage: cli_engines.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib/check.sh"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
SOURCE="$ROOT/examples/mona_lisa.png"

run() { # run DESCRIPTION -- command...: must exit 0 without sanitizer reports
  local what="$1"; shift 2
  local err rc
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  if [ "$rc" = 0 ] && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $what -> exit $rc: $(printf '%s' "$err" | tail -5)"
  fi
}
# "W,H,FRAMES" of a video's first stream
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=width,height,nb_read_frames -of csv=p=0 "$1" 2>/dev/null; }

# A tiny dataset: two 1-second clips (two identities by file name) of a slow zoom.
. "$ROOT/tests/lib/tiny_clips.sh"
tiny_clips "$ROOT" "$TMP" || { echo "FAIL: ffmpeg clip"; exit 1; }
run "dataset build" -- "$VIVIFY" dataset build "$TMP/mona_a.mp4" "$TMP/lisa_b.mp4" -o "$TMP/tiny.vds" --size 32 --threads 1 -q
TRAIN=(--data "$TMP/tiny.vds" --size 32 --width 2 --bottleneck 1 --k 2 --batch 1 --steps 2 --identity 0 --val-every 0 -q)
run "train fsth" -- "$VIVIFY" train "${TRAIN[@]}" -o "$TMP/fsth.safetensors"
run "train hybrid" -- "$VIVIFY" train "${TRAIN[@]}" --hybrid -o "$TMP/hybrid.safetensors"

# 0.4 s at 25 fps = 10 frames, at the portrait's size (500x756, already even).
want="$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$SOURCE"),10"
for engine in fsth hybrid; do
  run "animate --engine $engine" -- "$VIVIFY" animate "$SOURCE" --motion talk --duration 0.4 --engine $engine \
    --model "$TMP/$engine.safetensors" -o "$TMP/$engine.mp4"
  got="$(probe "$TMP/$engine.mp4")"
  ok "$([ "$got" = "$want" ] && echo 1)" "--engine $engine: $got (want $want)"
done
# Two SOURCE images are the K = 2 shots; --crop gives the --size square.
run "animate fsth K=2 --crop" -- "$VIVIFY" animate "$SOURCE" "$SOURCE" --motion blink --duration 0.2 --engine fsth \
  --model "$TMP/fsth.safetensors" --crop --size 64 -o "$TMP/k2.mp4"
got="$(probe "$TMP/k2.mp4")"
ok "$([ "$got" = "64,64,5" ] && echo 1)" "fsth K=2 --crop: $got (want 64,64,5)"
# The network's crop really is pasted in: the face region differs from the warp engine's.
run "animate warp" -- "$VIVIFY" animate "$SOURCE" --motion talk --duration 0.4 -o "$TMP/warp.mp4"
diff_face="$(ffmpeg -v error -i "$TMP/warp.mp4" -i "$TMP/fsth.mp4" -filter_complex \
  "[0:v]crop=120:120:190:130[a];[1:v]crop=120:120:190:130[b];[a][b]blend=all_mode=difference,signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-" \
  -f null - 2>&1 | grep -o 'YAVG=[0-9.]*' | head -1 | cut -d= -f2)"
ok "$(awk -v d="${diff_face:-0}" 'BEGIN { print (d > 2) ? 1 : 0 }')" "fsth face region equals the warp's (mean difference ${diff_face:-?})"

# The user's own photos: fine-tune each model on the portrait (vivify finetune), then
# animate with the person file it writes.
for engine in fsth hybrid; do
  run "finetune $engine" -- "$VIVIFY" finetune "$TMP/$engine.safetensors" "$SOURCE" -o "$TMP/person_$engine.safetensors" \
    --steps 2 --identity 0
  run "animate --engine $engine, fine-tuned person" -- "$VIVIFY" animate "$SOURCE" --motion talk --duration 0.4 \
    --engine $engine --model "$TMP/person_$engine.safetensors" -o "$TMP/person_$engine.mp4"
  got="$(probe "$TMP/person_$engine.mp4")"
  ok "$([ "$got" = "$want" ] && echo 1)" "--engine $engine with a fine-tuned person: $got (want $want)"
done

# vivify eval compares the learned engines feed-forward and fine-tuned (-ft) with one
# run: both models given as a comma-separated --model, each engine picks its kind.
run "eval fsth,fsth-ft,hybrid,hybrid-ft" -- "$VIVIFY" eval "$TMP/mona_a.mp4" --engine warp,fsth,fsth-ft,hybrid,hybrid-ft \
  --shots 1 --max-frames 2 --finetune-steps 1 --threads 1 --model "$TMP/fsth.safetensors,$TMP/hybrid.safetensors" -o "$TMP/eval"
rows="$(python3 -c 'import json,sys
rows=json.load(open(sys.argv[1]))["protocols"]["self_reenactment"]["summary"]
print(",".join("%s:%d" % (r["engine"], r["frames"]) for r in rows if r["available"]))' "$TMP/eval/report.json" 2>/dev/null)"
ok "$([ "$rows" = "warp:2,fsth:2,fsth-ft:2,hybrid:2,hybrid-ft:2" ] && echo 1)" "eval learned engines: '$rows'"
# (eval's progress lines come first on stderr; the error is the last line.)
err="$("$VIVIFY" eval "$TMP/mona_a.mp4" --engine hybrid-ft --shots 1 --max-frames 2 --model "$TMP/fsth.safetensors" \
  -o "$TMP/eval2" 2>&1 >/dev/null)"; rc=$?
ok "$([ "$rc" = 11 ] && printf '%s' "$err" | tail -1 | grep -q "no hybrid model among --model" && echo 1)" \
  "eval hybrid-ft with only an fsth model: exit $rc, $(printf '%s' "$err" | tail -1)"
no_output "$TMP/eval2"

# Bad models: exit 11 (VV_ERR_MODEL), one line, no output.
if [ ! -e "$ROOT/models/fsth128.safetensors" ]; then
  expect 11 "no model: pass --model" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine fsth -o "$TMP/x.mp4"
fi
expect 11 "model file not found: .*missing.safetensors" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine fsth \
  --model "$TMP/missing.safetensors" -o "$TMP/x.mp4"
head -c 4096 /dev/urandom > "$TMP/garbage.safetensors"
expect 11 "garbage.safetensors" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine hybrid \
  --model "$TMP/garbage.safetensors" -o "$TMP/x.mp4"
head -c 60000 "$TMP/fsth.safetensors" > "$TMP/truncated.safetensors"
expect 11 "truncated.safetensors" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine fsth \
  --model "$TMP/truncated.safetensors" -o "$TMP/x.mp4"
expect 11 "use --engine fsth" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine hybrid \
  --model "$TMP/fsth.safetensors" -o "$TMP/x.mp4"
no_output "$TMP/x.mp4"
expect 2 "--engine must be warp, warp2d, fsth or hybrid" -- "$VIVIFY" animate "$SOURCE" --motion talk --engine gan -o "$TMP/x.mp4"
expect 2 "--model is for --engine fsth or hybrid" -- "$VIVIFY" animate "$SOURCE" --motion talk \
  --model "$TMP/fsth.safetensors" -o "$TMP/x.mp4"
no_output "$TMP/x.mp4"

echo "cli_engines: $passed passed, $failed failed"
[ "$failed" = 0 ]
