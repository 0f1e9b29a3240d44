#!/usr/bin/env bash
# The page's Live tab in headless chromium with a fake camera (tests/browser/live.test.mjs):
# animated frames come back, the round trip is measured, one session at a time, Stop, a
# refused camera.  Skips (77) when chromium, node or npm's playwright-core is missing.
# usage: cli_serve_live_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/browser.sh"
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json facemesh.json selfie.json dlib; do
  model_present "$m" || { echo "SKIPPED: $m not present (./dev setup)"; exit 77; }
done
exec node "$ROOT/tests/browser/live.test.mjs" "$1"
