#!/usr/bin/env bash
# The page's Voice tab in headless chromium (tests/browser/voice.test.mjs): a recording
# dropped and one made with the (fake) microphone, each animated with its sound.
# Skips (77) when chromium, node, npm's playwright-core or espeak-ng is missing.
# usage: cli_serve_voice_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
command -v node >/dev/null || { echo "SKIPPED: no node"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIPPED: /usr/bin/chromium is not installed (./dev test installs it)"; exit 77; }
[ -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ] \
  || { echo "SKIPPED: playwright-core is not installed: cd tests/browser && npm ci (./dev test does)"; exit 77; }
exec node "$ROOT/tests/browser/voice.test.mjs" "$1"
