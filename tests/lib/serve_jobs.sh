# Sourced by the CLI tests of vivify serve (not a test itself): talking to its job API with
# curl.  They set TMP (a scratch folder), URL (the server, no trailing slash) and ok().
# field FILE KEY: a top-level string/number/null value of a flat JSON object, without node
field() { sed -nE 's/.*"'"$2"'":("([^"\\]|\\.)*"|[^,}]*).*/\1/p' "$1" 2>/dev/null | sed -E 's/^"(.*)"$/\1/'; }
# post EXPECTED_CODE NAME -F... : POSTs a job, checks the status code, keeps the body in $TMP/NAME.json
post() {
  local want="$1" name="$2"; shift 2
  local code
  code="$(curl -s -o "$TMP/$name.json" -w '%{http_code}' "$@" "$URL/api/jobs")"
  ok $([ "$code" = "$want" ] && echo 1) "$name: HTTP $code, want $want: $(cat "$TMP/$name.json" 2>/dev/null)"
}
# wait_job ID SECONDS: polls until done/failed; leaves the last status in $TMP/status.json
wait_job() {
  local state=""
  for _ in $(seq $(($2 * 5))); do
    curl -s "$URL/api/jobs/$1" -o "$TMP/status.json"
    state="$(field "$TMP/status.json" state)"
    [ "$state" = done ] || [ "$state" = failed ] && break
    sleep 0.2
  done
  echo "$state"
}
