#!/usr/bin/env bash
# Bad input to the CLI: one clear line, a distinct exit code, no crash, no partial output.
# usage: cli_bad_input.sh PATH/TO/vivify
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib/check.sh"

# expect CODE PATTERN -- command...: exit code CODE, stderr matches PATTERN (one line).
# no_file PATH: nothing (not even a temp file) left at PATH or beside it

# usage errors
expect 2 "unknown command" -- "$VIVIFY" frobnicate
expect 2 "unknown option" -- "$VIVIFY" landmarks --bogus x.png
expect 2 "needs one INPUT" -- "$VIVIFY" landmarks
expect 2 "expects a number" -- "$VIVIFY" landmarks x.png --smooth abc
expect 2 "needs a value" -- "$VIVIFY" landmarks x.png -o

# missing file
expect 3 "not found: $TMP/missing.png" -- "$VIVIFY" landmarks "$TMP/missing.png"
# zero-byte file
: > "$TMP/empty.png"
expect 5 "empty.png" -- "$VIVIFY" landmarks "$TMP/empty.png" -o "$TMP/out1.json"
no_output "$TMP/out1.json"
# not an image (text with a .jpg name)
echo "hello, not an image" > "$TMP/text.jpg"
expect 5 "text.jpg" -- "$VIVIFY" landmarks "$TMP/text.jpg" -o "$TMP/out2.json"
no_output "$TMP/out2.json"
# truncated PNG and JPEG
head -c 3000 "$ROOT/examples/mona_lisa.png" > "$TMP/trunc.png"
expect 6 "trunc.png" -- "$VIVIFY" landmarks "$TMP/trunc.png" -o "$TMP/out3.json"
no_output "$TMP/out3.json"
head -c 2000 "$ROOT/examples/grace_hopper.jpg" > "$TMP/trunc.jpg"
expect 6 "trunc.jpg" -- "$VIVIFY" landmarks "$TMP/trunc.jpg" -o "$TMP/out4.json"
no_output "$TMP/out4.json"
# a PNG header claiming 50000x50000 pixels (valid signature and IHDR CRC, no data)
python3 - "$TMP/huge.png" <<'PY' 2>/dev/null || printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xc3P\x00\x00\xc3P\x08\x02\x00\x00\x00\xea\x1b\x8d\x9f' > "$TMP/huge.png"
import struct, sys, zlib
ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk)
PY
expect 7 "50000" -- "$VIVIFY" landmarks "$TMP/huge.png" -o "$TMP/out5.json"
no_output "$TMP/out5.json"
# an image without a face: a flat grey picture
python3 -c "
import struct,zlib,sys
w=h=64; raw=b''.join(b'\x00'+b'\x80'*w*3 for _ in range(h))
def c(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))
open(sys.argv[1],'wb').write(b'\x89PNG\r\n\x1a\n'+c(b'IHDR',struct.pack('>IIBBBBB',w,h,8,2,0,0,0))+c(b'IDAT',zlib.compress(raw))+c(b'IEND',b''))
" "$TMP/grey.png"
expect 8 "no face found in $TMP/grey.png" -- "$VIVIFY" landmarks "$TMP/grey.png" -o "$TMP/out6.json"
no_output "$TMP/out6.json"
# unwritable output: a missing folder, and a read-only one
expect 10 "cannot write" -- "$VIVIFY" landmarks "$ROOT/examples/grace_hopper.jpg" -o "$TMP/missing-dir/out.json"
mkdir -p "$TMP/ro"; chmod 555 "$TMP/ro"
if [ "$(id -u)" != 0 ]; then
  expect 10 "cannot write" -- "$VIVIFY" landmarks "$ROOT/examples/grace_hopper.jpg" -o "$TMP/ro/out.json"
fi
expect 10 "cannot write" -- "$VIVIFY" landmarks "$ROOT/examples/grace_hopper.jpg" -o "$TMP/out7.json" --overlay "$TMP/missing-dir/o.png"
no_output "$TMP/out7.json"
# a video-less media file (audio only) and a zero-length .mp4
if command -v ffmpeg >/dev/null; then
  ffmpeg -loglevel error -f lavfi -i "sine=frequency=440:duration=1" "$TMP/audio.m4a" 2>/dev/null
  expect 9 "audio.m4a" -- "$VIVIFY" landmarks "$TMP/audio.m4a" -o "$TMP/out8.json"
  no_output "$TMP/out8.json"
fi
: > "$TMP/empty.mp4"
expect 5 "empty.mp4" -- "$VIVIFY" landmarks "$TMP/empty.mp4" -o "$TMP/out9.json"
no_output "$TMP/out9.json"

echo "cli_bad_input: $passed passed, $failed failed"
[ "$failed" = 0 ]
