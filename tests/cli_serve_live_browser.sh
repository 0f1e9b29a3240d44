#!/usr/bin/env bash
# The page's Live tab in headless chromium with a fake camera (tests/browser/live.test.mjs):
# animated frames come back, the round trip is measured, one session at a time, Stop, a
# refused camera.  Skips (77) when chromium, node or npm's playwright-core is missing.
# usage: cli_serve_live_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v node >/dev/null || { echo "SKIPPED: no node"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIPPED: /usr/bin/chromium is not installed (./dev test installs it)"; exit 77; }
[ -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ] \
  || { echo "SKIPPED: playwright-core is not installed: cd tests/browser && npm ci (./dev test does)"; exit 77; }
. "$ROOT/tests/lib/models.sh"
for m in blazeface.json facemesh.json selfie.json dlib; do
  model_present "$m" || { echo "SKIPPED: $m not present (./dev setup)"; exit 77; }
done
exec node "$ROOT/tests/browser/live.test.mjs" "$1"
