# Sourced by the headless-chromium tests (tests/browser/*.test.mjs through cli_serve_*browser.sh):
# skips (77) with a message when node, chromium or npm's playwright-core is missing
# (./dev test installs them).  Needs ROOT, the source root.
command -v node >/dev/null || { echo "SKIPPED: no node"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIPPED: /usr/bin/chromium is not installed (./dev test installs it)"; exit 77; }
[ -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ] \
  || { echo "SKIPPED: playwright-core is not installed: cd tests/browser && npm ci (./dev test does)"; exit 77; }
