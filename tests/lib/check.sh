# Sourced by the CLI tests (not a test itself: ctest runs tests/cli_*.sh only): the pass /
# fail counters and the checks that add to them.  A test ends with
#   echo "NAME: $passed passed, $failed failed"; [ "$failed" = 0 ]
passed=0
failed=0

# ok FLAG MESSAGE: passes when FLAG is 1, as in  ok $([ -s "$out" ] && echo 1) "$out written".
# A condition that failed leaves FLAG empty (quoted) or absent (unquoted): either fails and
# prints MESSAGE, the last argument.
ok() {
  if [ $# -ge 2 ] && [ "$1" = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: ${*: -1}"; fi
}

# expect CODE PATTERN -- command...: the command exits CODE and its stderr, less progress
# lines ("tracking: 3/10 frames ..."), is one line matching the extended regular expression
# PATTERN, with no sanitizer report or crash.
expect() {
  local code="$1" pattern="$2"; shift 3
  local err rc lines
  err="$("$@" 2>&1 >/dev/null)"; rc=$?
  err="$(printf '%s\n' "$err" | grep -vE '^[a-z]+: [0-9]+(/[0-9]+)? frames')"
  lines="$(printf '%s' "$err" | grep -c .)"
  if [ "$rc" = "$code" ] && printf '%s' "$err" | grep -qE -- "$pattern" && [ "$lines" -le 1 ] \
     && ! printf '%s' "$err" | grep -qE "AddressSanitizer|runtime error|Segmentation"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $* -> exit $rc (want $code), stderr: $err (want /$pattern/)"
  fi
}

# no_output PATH: nothing at PATH and no temporary file (*.tmp*) left beside it.
no_output() {
  if [ -e "$1" ] || ls -A "$(dirname "$1")" | grep -q "\.tmp"; then
    failed=$((failed + 1)); echo "FAIL: output left behind at $1"
  else passed=$((passed + 1)); fi
}
