#!/usr/bin/env bash
# The page of `vivify serve` in headless chromium (tests/browser/serve.test.mjs).
# Skips (77) when chromium, node or npm's playwright-core is missing; ./dev test installs them.
# usage: cli_serve_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/browser.sh"
exec node "$ROOT/tests/browser/serve.test.mjs" "$1" ${VIVIFY_SCREENSHOT:+"$VIVIFY_SCREENSHOT"}
