#!/usr/bin/env bash
# vivify serve with a voice recording (issue 17, item 1's web page) over loopback with curl:
# the job's `audio` field (a WAV made by espeak-ng, an MP3, a WebM/Opus as a browser's
# MediaRecorder makes, an MP4's sound) drives the mouth with the talk motion or a named one;
# the result lasts as long as the recording (frames within one of ceil(seconds x 25)) and
# carries its sound; its download name is made from the recording's; the mouth (our own
# landmarks on the result) is closed in the recording's pause and open in its speech.  Bad
# input: a recording with a driving video (400), a text file or a GIF as the recording (415),
# an empty one (400), one without sound (the job fails and says so), one over the server's
# --max-seconds (the job fails and says so), a recording for a live session (400).  Nothing
# is left in the server's folder after delete and stop.
# usage: cli_serve_audio.sh PATH/TO/vivify
set -u
VIVIFY="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
command -v curl >/dev/null || { echo "SKIPPED: no curl"; exit 77; }
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "SKIPPED: no ffmpeg/ffprobe"; exit 77; }
command -v espeak-ng >/dev/null || { echo "SKIPPED: no espeak-ng (./dev setup installs it)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIPPED: no python3"; exit 77; }
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json facemesh.json selfie.json dlib; do
  model_present "$m" || { echo "SKIPPED: model $m absent (./dev setup)"; exit 77; }
done
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
passed=0
failed=0
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
. "$ROOT/tests/lib/serve_jobs.sh"
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
has_audio() { [ -n "$(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1")" ]; }
duration_of() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
want_frames() { python3 -c "import math,sys; print(math.ceil(float(sys.argv[1]) * 25 - 1e-6))" "$1"; }

# Inputs: a small portrait; speech with a pause (600 ms) in WAV, MP3, WebM/Opus and MP4/AAC;
# a silent video; a text file; a GIF; a recording of 8 s (over --max-seconds 6).
SRC="$TMP/portrait.png"
ffmpeg -loglevel error -i "$ROOT/examples/mona_lisa.png" -vf "scale=256:-2" "$SRC"
espeak-ng -m -w "$TMP/speech.wav" '<speak>Hello, my friend. <break time="600ms"/> Maybe we can meet.</speak>' 2>/dev/null
ffmpeg -loglevel error -i "$TMP/speech.wav" -c:a libmp3lame -b:a 64k "$TMP/speech.mp3" 2>/dev/null
ffmpeg -loglevel error -i "$TMP/speech.wav" -c:a libopus -b:a 32k "$TMP/take.webm" 2>/dev/null
ffmpeg -loglevel error -f lavfi -i "color=c=gray:size=64x64:rate=25" -i "$TMP/speech.wav" -shortest -c:v libx264 \
  -pix_fmt yuv420p -c:a aac "$TMP/clip.mp4"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=64x64:rate=25" -t 0.5 -c:v libx264 -pix_fmt yuv420p "$TMP/mute.mp4"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=64x64:rate=10" -t 0.3 "$TMP/anim.gif"
ffmpeg -loglevel error -f lavfi -i "sine=frequency=200:sample_rate=16000" -t 8 "$TMP/long.wav"
echo "not a recording" > "$TMP/notes.txt"
: > "$TMP/empty.wav"
for f in "$SRC" "$TMP/speech.wav" "$TMP/clip.mp4" "$TMP/mute.mp4" "$TMP/anim.gif" "$TMP/long.wav"; do
  [ -s "$f" ] || { echo "SKIPPED: could not make $f"; exit 77; }
done
DUR="$(duration_of "$TMP/speech.wav")"

mkdir -p "$TMP/work"
(cd "$ROOT" && exec "$VIVIFY" serve --port 0 --jobs 1 --max-seconds 6 --temp "$TMP/work" >"$TMP/server.out" 2>"$TMP/server.err") &
SERVER_PID=$!
URL=""
for _ in $(seq 100); do
  URL="$(grep -o 'http://[^ ]*' "$TMP/server.out" 2>/dev/null)"
  [ -n "$URL" ] && break
  sleep 0.1
done
URL="${URL%/}"
[ -n "$URL" ] || { echo "FAIL: server did not start: $(cat "$TMP/server.err")"; exit 1; }


# 1. A WAV with the talk motion: as long as the recording, with its sound, named after it.
post 202 wav -F "source=@$SRC" -F "audio=@$TMP/speech.wav"
ID="$(field "$TMP/wav.json" id)"
ok $([ "$(wait_job "$ID" 120)" = done ] && echo 1) "WAV job: $(cat "$TMP/status.json")"
ok $([ "$(field "$TMP/status.json" audio),$(field "$TMP/status.json" filename)" = "true,portrait-speech-warp.mp4" ] && echo 1) \
  "WAV job: sound and name: $(cat "$TMP/status.json")"
curl -s -o "$TMP/wav.mp4" "$URL/api/jobs/$ID/result"
WANT="$(want_frames "$DUR")"
GOT="$(frames_of "$TMP/wav.mp4")"
ok $([ "${GOT:-0}" -ge $((WANT - 1)) ] && [ "${GOT:-0}" -le $((WANT + 1)) ] && echo 1) "WAV result: $GOT frames, want $WANT"
ok $(has_audio "$TMP/wav.mp4" && echo 1) "WAV result has no sound"
# the mouth on the result: closed in the pause (its frames one in from either end), open in speech
"$VIVIFY" landmarks "$TMP/wav.mp4" --smooth 0 -o "$TMP/wav.json.lm" 2>/dev/null
M="$(python3 - "$TMP/speech.wav" "$TMP/wav.json.lm" <<'PY'
import array, json, math, sys, wave
w = wave.open(sys.argv[1]); rate, n = w.getframerate(), w.getnframes()
x = [v / 32768.0 for v in array.array('h', w.readframes(n))]
blk = rate // 100
rms = [math.sqrt(sum(v * v for v in x[i:i + blk]) / blk) for i in range(0, n - blk + 1, blk)]
quiet = [r < 0.01 * max(rms) for r in rms]
runs, i = [], 0
while i < len(quiet):
    j = i
    while j < len(quiet) and quiet[j] == quiet[i]: j += 1
    if quiet[i] and (j - i) * 0.01 > 0.3 and i > 0 and j < len(quiet): runs.append((i * 0.01, j * 0.01))
    i = j
def opening(p):
    return sum(math.dist(p[a], p[b]) for a, b in ((61, 67), (62, 66), (63, 65))) / 3 / math.dist(p[48], p[54])
mouth = [opening(f['faces'][0]['landmarks']) if f['faces'] else 1 for f in json.load(open(sys.argv[2]))['frames']]
fps = 25
pause = [mouth[f] for s, e in runs for f in range(len(mouth)) if s + 1 / fps <= f / fps and (f + 1) / fps <= e - 1 / fps]
speech = [mouth[f] for f in range(len(mouth)) if not quiet[min(len(quiet) - 1, int((f + 0.5) / fps * 100))]]
print(f"{len(runs)} {max(pause) if pause else 9:.3f} {sum(speech) / max(1, len(speech)):.3f}")
PY
)"
read -r PAUSES PAUSE_MAX SPEECH_MEAN <<<"$M"
echo "WAV result: $PAUSES pause(s), mouth at most $PAUSE_MAX in it, $SPEECH_MEAN on average in speech"
ok $([ "$PAUSES" -ge 1 ] && python3 -c "import sys; sys.exit(not (float(sys.argv[1]) < 0.06 and float(sys.argv[2]) > 0.1))" \
     "$PAUSE_MAX" "$SPEECH_MEAN" && echo 1) "the mouth: $PAUSES pauses, $PAUSE_MAX in them, $SPEECH_MEAN in speech"
curl -s -o /dev/null -X DELETE "$URL/api/jobs/$ID"

# 2. The other containers (MP3; WebM/Opus as MediaRecorder makes; a video's sound), one with
# a named motion; GIF output.
for spec in "mp3:speech.mp3:" "webm:take.webm:motion=nod" "mp4:clip.mp4:format=gif"; do
  IFS=: read -r name file extra <<<"$spec"
  [ -s "$TMP/$file" ] || { echo "($file could not be made here: skipped)"; continue; }
  post 202 "$name" -F "source=@$SRC" -F "audio=@$TMP/$file" ${extra:+-F "$extra"}
  ID="$(field "$TMP/$name.json" id)"
  ok $([ "$(wait_job "$ID" 120)" = done ] && echo 1) "$name job: $(cat "$TMP/status.json")"
  want_name="portrait-${file%.*}-warp.$([ "$extra" = format=gif ] && echo gif || echo mp4)"
  ok $([ "$(field "$TMP/status.json" filename)" = "$want_name" ] && echo 1) "$name: name $(field "$TMP/status.json" filename), want $want_name"
  curl -s -o "$TMP/$name.out" "$URL/api/jobs/$ID/result"
  GOT="$(frames_of "$TMP/$name.out")"
  ok $([ "${GOT:-0}" -ge $((WANT - 2)) ] && [ "${GOT:-0}" -le $((WANT + 2)) ] && echo 1) "$name result: $GOT frames, want about $WANT"
  curl -s -o /dev/null -X DELETE "$URL/api/jobs/$ID"
done

# 3. Refused when posted: with a driving video; a text file, a GIF, an empty file as the
# recording; a recording for a live session.
post 400 both -F "source=@$SRC" -F "audio=@$TMP/speech.wav" -F "driving=@$TMP/clip.mp4"
ok $(grep -q "either a driving video or a recording" "$TMP/both.json" && echo 1) "both: $(cat "$TMP/both.json")"
post 415 text -F "source=@$SRC" -F "audio=@$TMP/notes.txt"
ok $(grep -q "the recording must be WAV, MP3, Ogg, FLAC, WebM or MP4 (this is a text file)" "$TMP/text.json" && echo 1) "text: $(cat "$TMP/text.json")"
post 415 gif -F "source=@$SRC" -F "audio=@$TMP/anim.gif"
ok $(grep -q "this is a GIF animation" "$TMP/gif.json" && echo 1) "gif: $(cat "$TMP/gif.json")"
post 400 empty -F "source=@$SRC" -F "audio=@$TMP/empty.wav"
ok $(grep -q "the recording file is empty" "$TMP/empty.json" && echo 1) "empty: $(cat "$TMP/empty.json")"
code="$(curl -s -o "$TMP/live.json" -w '%{http_code}' -F "source=@$SRC" -F "audio=@$TMP/speech.wav" "$URL/api/live")"
ok $([ "$code" = 400 ] && grep -q "not a 'audio' file" "$TMP/live.json" && echo 1) "live with a recording: $code $(cat "$TMP/live.json")"

# 4. Failed when run, with the reason: no sound; over --max-seconds.
post 202 mute -F "source=@$SRC" -F "audio=@$TMP/mute.mp4"
ID="$(field "$TMP/mute.json" id)"
ok $([ "$(wait_job "$ID" 60)" = failed ] && grep -q "the recording has no audio stream" "$TMP/status.json" && echo 1) \
  "no sound: $(cat "$TMP/status.json")"
curl -s -o /dev/null -X DELETE "$URL/api/jobs/$ID"
post 202 long -F "source=@$SRC" -F "audio=@$TMP/long.wav"
ID="$(field "$TMP/long.json" id)"
ok $([ "$(wait_job "$ID" 60)" = failed ] && grep -q "recordings of up to 6 s" "$TMP/status.json" && echo 1) \
  "over --max-seconds: $(cat "$TMP/status.json")"
curl -s -o /dev/null -X DELETE "$URL/api/jobs/$ID"

# Nothing left behind: after the deletes, and the folder gone after stop.
left="$(find "$TMP/work" -type f | head -5)"
ok $([ -z "$left" ] && echo 1) "files left after delete: $left"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=""
ok $([ -z "$(ls -A "$TMP/work")" ] && echo 1) "the server's folder after stop: $(ls -A "$TMP/work")"
ok $(! grep -q "AddressSanitizer\|runtime error" "$TMP/server.err" && echo 1) "sanitizer report: $(grep -m3 "AddressSanitizer\|runtime error" "$TMP/server.err")"

echo "cli_serve_audio: $passed passed, $failed failed"
[ "$failed" = 0 ] || exit 1
