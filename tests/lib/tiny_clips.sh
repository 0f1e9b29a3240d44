# Sourced by the CLI tests that need a tiny training set (not a test itself: ctest runs
# tests/cli_*.sh only).  tiny_clips ROOT DIR: two 1-second 250x378 clips of a slow zoom on
# examples/mona_lisa.png, DIR/mona_a.mp4 and DIR/lisa_b.mp4 (two identities by file name,
# as docs/DATASET.md's identity rule reads them); non-zero when ffmpeg fails.
tiny_clips() {
  ffmpeg -v error -y -loop 1 -i "$1/examples/mona_lisa.png" \
    -vf "scale=250:378,zoompan=z='1+0.002*on':d=25:s=250x378:fps=25" -frames:v 25 -pix_fmt yuv420p "$2/mona_a.mp4" \
    && cp "$2/mona_a.mp4" "$2/lisa_b.mp4"
}
