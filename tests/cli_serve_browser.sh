#!/usr/bin/env bash
# The page of `vivify serve` in headless chromium (tests/browser/serve.test.mjs).
# Skips (77) when chromium, node or npm's playwright-core is missing; ./dev test installs them.
# usage: cli_serve_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v node >/dev/null || { echo "SKIPPED: no node"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIPPED: /usr/bin/chromium is not installed (./dev test installs it)"; exit 77; }
[ -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ] \
  || { echo "SKIPPED: playwright-core is not installed: cd tests/browser && npm ci (./dev test does)"; exit 77; }
exec node "$ROOT/tests/browser/serve.test.mjs" "$1" ${VIVIFY_SCREENSHOT:+"$VIVIFY_SCREENSHOT"}
