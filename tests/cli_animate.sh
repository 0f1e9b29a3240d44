#!/usr/bin/env bash
# vivify animate / motion extract end to end on the bundled portrait: frame count, fps,
# audio present iff the driver has it (--no-audio: a whole video without it), --reference
# best with a driver, output kinds, and bad input (one line, a distinct exit code, nothing
# left behind).
# usage: cli_animate.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib/check.sh"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
SOURCE="$ROOT/examples/mona_lisa.png"

# ok $(CHECK && echo 1) MESSAGE: a failed check leaves MESSAGE alone (no "1"): still a failure, not an abort under set -u.
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
fps_of() { ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$1"; }
size_of() { ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$1"; }
has_audio() { [ -n "$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1")" ]; }

# Drivers made here: the portrait itself held still for 1.2 s at 20 fps (a face, no motion),
# with and without a tone; and a face-less test pattern.
ffmpeg -loglevel error -loop 1 -i "$SOURCE" -f lavfi -i "sine=frequency=300:duration=1.2" -t 1.2 -r 20 \
  -vf "scale=256:-2" -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$TMP/driver_audio.mp4"
ffmpeg -loglevel error -loop 1 -i "$SOURCE" -t 1.2 -r 20 -vf "scale=256:-2" -c:v libx264 -pix_fmt yuv420p "$TMP/driver_silent.mp4"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=160x120:rate=10:duration=1" -c:v libx264 -pix_fmt yuv420p "$TMP/pattern.mp4"
[ -s "$TMP/driver_audio.mp4" ] && [ -s "$TMP/driver_silent.mp4" ] || { echo "SKIPPED: could not make drivers"; exit 77; }
W=$(( $(ffprobe -v error -show_entries stream=width -of csv=p=0 "$SOURCE") / 2 * 2 ))
H=$(( $(ffprobe -v error -show_entries stream=height -of csv=p=0 "$SOURCE") / 2 * 2 ))

# Built-in motion: 1 s at 25 fps, the source's size (even), no audio.
"$VIVIFY" animate "$SOURCE" --motion talk --duration 1 -o "$TMP/talk.mp4" 2>"$TMP/log"; rc=$?
ok $([ $rc = 0 ] && echo 1) "animate --motion talk exit $rc: $(tail -1 "$TMP/log")"
ok $([ "$(frames_of "$TMP/talk.mp4")" = 25 ] && echo 1) "talk: $(frames_of "$TMP/talk.mp4") frames, want 25"
ok $([ "$(fps_of "$TMP/talk.mp4")" = "25/1" ] && echo 1) "talk: fps $(fps_of "$TMP/talk.mp4")"
ok $([ "$(size_of "$TMP/talk.mp4")" = "${W}x${H}" ] && echo 1) "talk: size $(size_of "$TMP/talk.mp4"), want ${W}x${H}"
ok $(has_audio "$TMP/talk.mp4" || echo 1) "talk: has audio without a driver"
ok $(grep -q "animate: 25 frames" "$TMP/log" && echo 1) "no summary line"

# Several sources: one person (the same portrait twice) gives no warning; two people a
# warning naming both; the output keeps the first one's size either way (no stretching).
"$VIVIFY" animate "$SOURCE" "$SOURCE" --motion talk --duration 0.4 -o "$TMP/same.mp4" 2>"$TMP/log"; rc=$?
ok $([ $rc = 0 ] && ! grep -q "different people" "$TMP/log" && echo 1) "one person twice: exit $rc, $(grep warning "$TMP/log")"
"$VIVIFY" animate "$SOURCE" "$ROOT/examples/grace_hopper.jpg" --motion talk --duration 0.4 -o "$TMP/two.mp4" 2>"$TMP/log"; rc=$?
ok $([ $rc = 0 ] && grep -q "mona_lisa.png and .*grace_hopper.jpg look like different people" "$TMP/log" && echo 1) \
   "two people: exit $rc, no warning in: $(tail -2 "$TMP/log")"
ok $([ "$(size_of "$TMP/two.mp4")" = "${W}x${H}" ] && echo 1) "two sources: size $(size_of "$TMP/two.mp4"), want ${W}x${H}"

# Driver with audio: frame count and fps are the driver's, the audio is carried over.
"$VIVIFY" animate "$SOURCE" --driving "$TMP/driver_audio.mp4" -o "$TMP/driven.mp4" 2>"$TMP/log"; rc=$?
ok $([ $rc = 0 ] && echo 1) "animate --driving exit $rc: $(tail -1 "$TMP/log")"
ok $([ "$(frames_of "$TMP/driven.mp4")" = "$(frames_of "$TMP/driver_audio.mp4")" ] && echo 1) \
  "driven: $(frames_of "$TMP/driven.mp4") frames, driver $(frames_of "$TMP/driver_audio.mp4")"
ok $([ "$(fps_of "$TMP/driven.mp4")" = "20/1" ] && echo 1) "driven: fps $(fps_of "$TMP/driven.mp4"), want 20/1"
ok $(has_audio "$TMP/driven.mp4" && echo 1) "driven: no audio although the driver has it"
# --no-audio: a whole video (exit 0, the driver's frames) without the audio; a crash or a
# missing output fails here (has_audio alone is false for a file that is not there).
"$VIVIFY" animate "$SOURCE" --driving "$TMP/driver_audio.mp4" --no-audio -o "$TMP/mute.mp4" 2>"$TMP/log"; rc=$?
ok $([ $rc = 0 ] && [ -s "$TMP/mute.mp4" ] && [ "$(frames_of "$TMP/mute.mp4")" = "$(frames_of "$TMP/driver_audio.mp4")" ] \
     && ! has_audio "$TMP/mute.mp4" && echo 1) \
   "--no-audio: exit $rc, $(frames_of "$TMP/mute.mp4" 2>/dev/null) frames, audio $(has_audio "$TMP/mute.mp4" && echo present || echo absent): $(tail -1 "$TMP/log")"
"$VIVIFY" animate "$SOURCE" --driving "$TMP/driver_silent.mp4" -o "$TMP/silent.mp4" 2>/dev/null
ok $([ -s "$TMP/silent.mp4" ] && ! has_audio "$TMP/silent.mp4" && echo 1) "silent driver: audio present or no output"

# --reference best with a driver: 0.3 s of another face (Grace Hopper), then 0.6 s of the
# portrait itself; the reference is found among the portrait's frames (from 0.4 s on), while
# --reference first keeps frame 0 (-v prints it in the summary line).
ffmpeg -loglevel error -loop 1 -i "$ROOT/examples/grace_hopper.jpg" -loop 1 -i "$SOURCE" -filter_complex \
  "[0:v]scale=256:256,pad=256:388:0:66,setsar=1,trim=duration=0.3[a];[1:v]scale=256:388,setsar=1,trim=duration=0.6[b];[a][b]concat=n=2:v=1[v]" \
  -map "[v]" -r 20 -c:v libx264 -pix_fmt yuv420p "$TMP/two_faces.mp4"
for reference in best first; do
  "$VIVIFY" animate "$SOURCE" --driving "$TMP/two_faces.mp4" --reference $reference -v -o "$TMP/ref_$reference.mp4" 2>"$TMP/log"; rc=$?
  frame="$(grep -o 'reference driver frame [0-9]*' "$TMP/log" | tail -1 | grep -o '[0-9]*$')"
  if [ $reference = best ]; then good=$([ "${frame:-0}" -ge 8 ] && echo 1); else good=$([ "$frame" = 0 ] && echo 1); fi
  ok $([ $rc = 0 ] && [ "$(frames_of "$TMP/ref_$reference.mp4")" = "$(frames_of "$TMP/two_faces.mp4")" ] && [ "$good" = 1 ] && echo 1) \
     "--reference $reference: exit $rc, $(frames_of "$TMP/ref_$reference.mp4" 2>/dev/null) frames (driver $(frames_of "$TMP/two_faces.mp4")), reference frame '${frame}': $(tail -1 "$TMP/log" | cut -c1-160)"
done

# Template round trip keeps the audio path; --compare and --crop sizes; GIF and PNG folder.
"$VIVIFY" motion extract "$TMP/driver_audio.mp4" -o "$TMP/m.json" 2>/dev/null
ok $(grep -q '"vivify-motion"' "$TMP/m.json" 2>/dev/null && echo 1) "motion extract wrote no template"
"$VIVIFY" animate "$SOURCE" --motion "$TMP/m.json" -o "$TMP/from_json.mp4" 2>/dev/null
ok $([ "$(frames_of "$TMP/from_json.mp4")" = 24 ] && has_audio "$TMP/from_json.mp4" && echo 1) "template: frames/audio"
"$VIVIFY" animate "$SOURCE" --motion blink --duration 0.4 --crop --size 256 -o "$TMP/crop.mp4" 2>/dev/null
ok $([ "$(size_of "$TMP/crop.mp4")" = "256x256" ] && echo 1) "--crop --size 256: $(size_of "$TMP/crop.mp4")"
"$VIVIFY" animate "$SOURCE" --driving "$TMP/driver_audio.mp4" --frames 5 --compare -o "$TMP/cmp.mp4" 2>/dev/null
ok $([ "$(frames_of "$TMP/cmp.mp4")" = 5 ] && [ "$(size_of "$TMP/cmp.mp4" | cut -dx -f2)" = "$H" ] && echo 1) "--compare --frames 5"
"$VIVIFY" animate "$SOURCE" --motion nod --duration 0.4 -o "$TMP/nod.gif" 2>/dev/null
ok $([ "$(frames_of "$TMP/nod.gif")" = 10 ] && echo 1) "gif: $(frames_of "$TMP/nod.gif") frames"
"$VIVIFY" animate "$SOURCE" --motion smile --duration 0.2 -o "$TMP/frames/" 2>/dev/null
ok $([ "$(ls "$TMP/frames" 2>/dev/null | grep -c '\.png$')" = 5 ] && echo 1) "png folder: $(ls "$TMP/frames" 2>/dev/null | wc -l) files"

# Bad input.
expect 2 "needs a SOURCE" -- "$VIVIFY" animate --motion talk -o "$TMP/x.mp4"
expect 2 "one of --driving" -- "$VIVIFY" animate "$SOURCE" -o "$TMP/x.mp4"
expect 2 "not both" -- "$VIVIFY" animate "$SOURCE" --motion talk --driving "$TMP/driver_audio.mp4" -o "$TMP/x.mp4"
expect 2 "needs -o" -- "$VIVIFY" animate "$SOURCE" --motion talk
expect 2 "first or best" -- "$VIVIFY" animate "$SOURCE" --motion talk --reference middle -o "$TMP/x.mp4"
expect 2 "unknown motion 'dance'" -- "$VIVIFY" animate "$SOURCE" --motion dance -o "$TMP/x.mp4"
expect 2 "size" -- "$VIVIFY" animate "$SOURCE" --motion talk --size 8 -o "$TMP/x.mp4"
expect 3 "not found: $TMP/nope.png" -- "$VIVIFY" animate "$TMP/nope.png" --motion talk -o "$TMP/x.mp4"
expect 3 "not found: $TMP/nope.mp4" -- "$VIVIFY" animate "$SOURCE" --driving "$TMP/nope.mp4" -o "$TMP/x.mp4"
expect 3 "not found: $TMP/nope.json" -- "$VIVIFY" animate "$SOURCE" --motion "$TMP/nope.json" -o "$TMP/x.mp4"
expect 12 "x.webm" -- "$VIVIFY" animate "$SOURCE" --motion talk -o "$TMP/x.webm"
ffmpeg -loglevel error -f lavfi -i "color=gray:size=128x128" -frames:v 1 "$TMP/grey.png"
expect 8 "no face found in $TMP/grey.png" -- "$VIVIFY" animate "$TMP/grey.png" --motion talk -o "$TMP/x.mp4"
expect 8 "no face found in any frame" -- "$VIVIFY" animate "$SOURCE" --driving "$TMP/pattern.mp4" -o "$TMP/x.mp4"
expect 2 "--face 3" -- "$VIVIFY" animate "$SOURCE" --motion talk --face 3 -o "$TMP/x.mp4"
echo "not a video" > "$TMP/text.mp4"
expect 5 "text.mp4" -- "$VIVIFY" animate "$SOURCE" --driving "$TMP/text.mp4" -o "$TMP/x.mp4"
echo '{"format": "vivify-motion", "fps": 25, "frames": [[[1, 2]]]}' > "$TMP/bad.json"
expect 6 "bad.json" -- "$VIVIFY" animate "$SOURCE" --motion "$TMP/bad.json" -o "$TMP/x.mp4"
no_output "$TMP/x.mp4"
ffmpeg -loglevel error -f lavfi -i "color=gray:size=512x512" -frames:v 1 -vf "drawbox=0:0:0:0" "$TMP/tiny_src.png"
ffmpeg -loglevel error -i "$SOURCE" -vf "scale=40:-2,pad=600:600:280:280" "$TMP/tiny.png"
expect 8 "tiny.png" -- "$VIVIFY" animate "$TMP/tiny.png" --motion talk -o "$TMP/y.mp4"
no_output "$TMP/y.mp4"
expect 10 "cannot write|missing-dir" -- "$VIVIFY" animate "$SOURCE" --motion talk --duration 0.2 -o "$TMP/missing-dir/z.mp4"
expect 2 "usage: vivify motion extract" -- "$VIVIFY" motion frobnicate x.mp4 -o "$TMP/m2.json"
expect 8 "no face found in any frame" -- "$VIVIFY" motion extract "$TMP/pattern.mp4" -o "$TMP/m2.json"
no_output "$TMP/m2.json"

echo "cli_animate: $passed passed, $failed failed"
[ "$failed" = 0 ]
