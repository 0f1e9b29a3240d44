#!/usr/bin/env bash
# The installable library (issue 18, item 25): cmake --install of the build that made
# PATH/TO/vivify into a temporary prefix; the installed tree (header, libvivify.a, libvivify.so
# with its soname, both defining only the functions of include/vivify.h globally, vivify.pc,
# the binary, the models in share/vivify/models); examples/animate_portrait.c compiled against
# it with pkg-config, linked shared and static beside a file defining names the library uses
# inside (no clash, no interposition), run from outside the source tree on the bundled
# portrait (the one-call form to an mp4 and the streaming form to PNGs; frame counts by
# ffprobe); and the installed models are the ones read (a broken installed copy fails the run,
# the installed binary finds the shipped fsth model).
# usage: cli_install.sh PATH/TO/vivify   (env from CMakeLists.txt: CC, VV_EXAMPLE_CFLAGS
# (the build's sanitizer flags), VV_EXAMPLE_SHARED (0: no libvivify.so in this build))
set -u
VIVIFY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "$(dirname "$VIVIFY")" && pwd)"
CC="${CC:-cc}"
SHARED="${VV_EXAMPLE_SHARED:-1}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
for tool in cmake pkg-config "$CC" ffprobe nm readelf; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: no $tool"; exit 77; }
done
# ok $(CHECK && echo 1) MESSAGE (as in cli_animate.sh)
ok() { if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi; }
frames_of() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
clean() { ! grep -qE "AddressSanitizer|LeakSanitizer|runtime error|ThreadSanitizer" "$1"; }

PREFIX="$TMP/prefix"
cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" 2>&1
ok $([ $? = 0 ] && echo 1) "cmake --install $BUILD: $(tail -3 "$TMP/install.log")"
for f in include/vivify.h lib/libvivify.a lib/pkgconfig/vivify.pc bin/vivify \
         share/vivify/models/fsth128.safetensors share/vivify/models/hybrid128.safetensors; do
  ok $([ -s "$PREFIX/$f" ] && echo 1) "installed $f"
done
# The detector, face mesh, iris and matte models come from ./dev setup's .cache/models.
for m in blazeface facemesh iris selfie; do
  [ -s "$ROOT/.cache/models/$m.json" ] || { echo "SKIPPED: .cache/models/$m.json absent (./dev setup)"; exit 77; }
  ok $([ -s "$PREFIX/share/vivify/models/$m.json" ] && [ -s "$PREFIX/share/vivify/models/$m.bin" ] && echo 1) \
     "installed share/vivify/models/$m.json/.bin"
done

# libvivify.so: soname, version, and the exports: exactly the functions of include/vivify.h.
sed -nE 's/^[a-z][a-z0-9_ ]*[ *](vv_[a-z0-9_]+)\(.*/\1/p' "$ROOT/include/vivify.h" | sort -u >"$TMP/declared"
if [ "$SHARED" = 1 ]; then
  so="$PREFIX/lib/libvivify.so"
  ok $([ -L "$so" ] && [ "$(readlink "$so")" = libvivify.so.0 ] && [ -f "$PREFIX/lib/libvivify.so.0" ] && echo 1) \
     "libvivify.so -> libvivify.so.0 ($(readlink "$so"))"
  soname="$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
  ok $([ "$soname" = libvivify.so.0 ] && echo 1) "soname libvivify.so.0 (got '$soname')"
  nm -D --defined-only "$so" | awk '{print $3}' | sort >"$TMP/exports"
  ok $([ -s "$TMP/declared" ] && cmp -s "$TMP/exports" "$TMP/declared" && echo 1) \
     "libvivify.so exports exactly include/vivify.h's functions: $(diff "$TMP/declared" "$TMP/exports" | grep '^[<>]' | tr '\n' ' ')"
  ok $(! grep -q vv_fail "$TMP/exports" && echo 1) "vv_fail (internal) is not exported"
fi
# libvivify.a: one object whose only global definitions are the same functions.
nm -g --defined-only "$PREFIX/lib/libvivify.a" 2>/dev/null | awk 'NF == 3 {print $3}' | sort >"$TMP/archive_globals"
ok $([ -s "$TMP/declared" ] && cmp -s "$TMP/archive_globals" "$TMP/declared" && echo 1) \
   "libvivify.a defines only include/vivify.h's functions globally: $(diff "$TMP/declared" "$TMP/archive_globals" | grep -c '^[<>]') differ"

# vivify.pc
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
version="$("$VIVIFY" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)"
ok $([ "$(pkg-config --modversion vivify)" = "$version" ] && echo 1) "pkg-config --modversion vivify = $version"
ok $([ "$(pkg-config --variable=prefix vivify)" = "$PREFIX" ] && echo 1) "vivify.pc prefix is the one installed to"
# (pocketsphinx and sphinxbase too when the build found them: the optional phoneme lip-sync)
requires="$(pkg-config --print-requires-private vivify | awk '{print $1}' | grep -vxE 'pocketsphinx|sphinxbase' | sort | tr '\n' ' ')"
ok $([ "$requires" = "libavcodec libavformat libavutil libcjson libmicrohttpd libpng libswresample libswscale libturbojpeg openblas " ] && echo 1) \
   "Requires.private: FFmpeg, libpng, turbojpeg, cJSON, libmicrohttpd, OpenBLAS (got $requires)"
static_libs=" $(pkg-config --static --libs vivify) "
for l in -lvivify -lavformat -lavcodec -lswscale -lavutil -lswresample -lpng16 -lturbojpeg -lcjson -lopenblas \
         -lmicrohttpd -lpthread -lm; do
  ok $(case "$static_libs" in *" $l "*) echo 1 ;; esac) "pkg-config --static --libs vivify has $l"
done

# The example, built as a user would (warnings are errors here), with a file of the program's
# own that defines names vivify uses inside (base.c's time_now and parallel_for, image.c's
# image_load): they must neither clash with the library's nor replace them.
EXAMPLE="$ROOT/examples/animate_portrait.c"
cat >"$TMP/user.c" <<'EOF_C'
double time_now(void);
int image_load(const char *path);
void parallel_for(void);
double time_now(void) { return -1; }
int image_load(const char *path) { return path != 0; }
void parallel_for(void) {}
EOF_C
CFLAGS="-std=c11 -O1 -Wall -Wextra -Werror ${VV_EXAMPLE_CFLAGS:-}"
# shellcheck disable=SC2086,SC2046
if [ "$SHARED" = 1 ]; then
  "$CC" $CFLAGS "$EXAMPLE" "$TMP/user.c" -o "$TMP/example_shared" $(pkg-config --cflags --libs vivify) -lm \
        -Wl,-rpath,"$PREFIX/lib" 2>"$TMP/cc_shared.log"
  ok $([ $? = 0 ] && echo 1) "example links shared: $(head -5 "$TMP/cc_shared.log")"
  ok $(readelf -d "$TMP/example_shared" 2>/dev/null | grep -q 'NEEDED.*\[libvivify\.so\.0\]' && echo 1) \
     "the shared example needs libvivify.so.0"
fi
# Static libvivify, its dependencies shared (Debian's FFmpeg cannot be linked fully static:
# `pkg-config --static` names archives of ~40 codec libraries that are not installed).
# shellcheck disable=SC2086,SC2046
"$CC" $CFLAGS "$EXAMPLE" "$TMP/user.c" -o "$TMP/example_static" $(pkg-config --cflags vivify) $(pkg-config --libs-only-L vivify) \
      -l:libvivify.a $(pkg-config --libs $(pkg-config --print-requires-private vivify)) -lpthread -lm -ldl \
      2>"$TMP/cc_static.log"
ok $([ $? = 0 ] && echo 1) "example links libvivify.a: $(head -5 "$TMP/cc_static.log")"
ok $([ -x "$TMP/example_static" ] && ! readelf -d "$TMP/example_static" | grep -q libvivify && echo 1) \
   "the static example needs no libvivify.so"

# Run from outside the source tree: 1 s of "talk" (25 frames) through vv_animate to an mp4.
mkdir -p "$TMP/run"
cd "$TMP/run" || exit 1
SOURCE="$ROOT/examples/mona_lisa.png"
EX="$TMP/example_static"
[ "$SHARED" = 1 ] && EX="$TMP/example_shared"
"$EX" "$SOURCE" talk.mp4 -m talk -d 1 -t 2 >out.log 2>err.log
rc=$?
ok $([ $rc = 0 ] && clean err.log && echo 1) "$(basename "$EX") one call: exit $rc: $(tail -3 err.log)"
ok $([ -s talk.mp4 ] && [ "$(frames_of talk.mp4)" = 25 ] && grep -q "wrote 25 frames 500x756 at 25 fps" out.log && echo 1) \
   "talk.mp4 has 25 frames (ffprobe: $(frames_of talk.mp4 2>&1); example: $(grep wrote out.log))"
# The streaming form (push landmarks, pull frames), statically linked: 0.6 s, 15 PNG frames.
"$TMP/example_static" "$SOURCE" frames -s -d 0.6 -t 2 >out2.log 2>err2.log
rc=$?
ok $([ $rc = 0 ] && clean err2.log && echo 1) "example_static streaming: exit $rc: $(tail -3 err2.log)"
count="$(ls frames 2>/dev/null | grep -c '^frame_00[0-9][0-9]\.png$')"
ok $([ "$count" = 15 ] && [ -s frames/frame_0014.png ] && echo 1) "streaming wrote 15 frames (got $count)"
ok $([ "$(ffprobe -v error -show_entries stream=width,height -of csv=p=0:s=x frames/frame_0007.png)" = 500x756 ] && echo 1) \
   "streamed frames are the portrait's size"
ok $(! cmp -s frames/frame_0000.png frames/frame_0012.png && echo 1) "the streamed portrait moves (frame 12 differs from 0)"

# The installed binary finds the shipped fsth model in share/vivify/models (not the source
# tree's models/: the working folder is elsewhere and <bin>/../models does not exist).
"$PREFIX/bin/vivify" animate "$SOURCE" --engine fsth --motion talk --duration 0.2 -o fsth.mp4 >/dev/null 2>err3.log
rc=$?
ok $([ $rc = 0 ] && [ "$(frames_of fsth.mp4)" = 5 ] && echo 1) "installed vivify --engine fsth: exit $rc: $(tail -2 err3.log)"
# The installed helper models are the ones read, ahead of the source tree's .cache/models: a
# broken installed blazeface.json fails both the library (beside libvivify.so) and the binary.
cp "$PREFIX/share/vivify/models/blazeface.json" "$TMP/blazeface.json"
echo '{' >"$PREFIX/share/vivify/models/blazeface.json"
if [ "$SHARED" = 1 ]; then # beside libvivify.so, wherever the program is
  "$TMP/example_shared" "$SOURCE" broken.mp4 -d 0.2 >/dev/null 2>err4.log
  rc=$?
  ok $([ $rc = 1 ] && grep -q "$PREFIX/lib/.*share/vivify/models/blazeface.json" err4.log && echo 1) \
     "example_shared reads the installed blazeface.json: exit $rc: $(tail -1 err4.log)"
fi
# a program linked with libvivify.a and installed in <prefix>/bin
cp "$TMP/example_static" "$PREFIX/bin/example_static"
"$PREFIX/bin/example_static" "$SOURCE" broken.mp4 -d 0.2 >/dev/null 2>err6.log
rc=$?
ok $([ $rc = 1 ] && grep -q "$PREFIX/bin/.*share/vivify/models/blazeface.json" err6.log && echo 1) \
   "<prefix>/bin/example_static reads the installed blazeface.json: exit $rc: $(tail -1 err6.log)"
"$PREFIX/bin/vivify" animate "$SOURCE" --motion talk --duration 0.2 -o broken.mp4 >/dev/null 2>err5.log
rc=$?
ok $([ $rc = 11 ] && grep -q "$PREFIX/.*share/vivify/models/blazeface.json" err5.log && echo 1) \
   "installed vivify reads the installed blazeface.json: exit $rc: $(tail -1 err5.log)"
cp "$TMP/blazeface.json" "$PREFIX/share/vivify/models/blazeface.json"

echo "cli_install: $passed passed, $failed failed"
[ "$failed" = 0 ]
