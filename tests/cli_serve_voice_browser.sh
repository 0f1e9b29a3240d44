#!/usr/bin/env bash
# The page's Voice tab in headless chromium (tests/browser/voice.test.mjs): a recording
# dropped and one made with the (fake) microphone, each animated with its sound.
# Skips (77) when chromium, node, npm's playwright-core or espeak-ng is missing.
# usage: cli_serve_voice_browser.sh PATH/TO/vivify
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/tests/lib/browser.sh"
exec node "$ROOT/tests/browser/voice.test.mjs" "$1"
