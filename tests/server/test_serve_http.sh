#!/bin/sh
# test_serve_http.sh - `slinfer serve` through real HTTP on loopback: a tiny
# generated model with the byte-level test tokenizer, an API key and a small
# body limit; serve_check.py then compares the OpenAI routes with `slinfer
# generate`, parses /metrics strictly, sends its list of bad requests, runs
# loadgen (SERVE_REQUESTS requests at SERVE_CONCURRENCY, default 2000 at 32)
# and ends the server with SIGTERM while a request runs. A second server
# checks 429 at --max-queue and a drain cut by --shutdown-timeout. $SLINFER
# is set by `make check`.
. "$(dirname "$0")/../cli/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
loadgen=$(dirname "$SLINFER")/../tests/server/loadgen
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is needed to drive the HTTP checks"
    exit 77
fi
[ -x "$loadgen" ] || { echo "no $loadgen: build it with make check" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slinfer-serve-XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

expect_status 0 "help lists serve" -- "$SLINFER" --help
expect_match "$out" '^  serve +answer an OpenAI-compatible HTTP API' "--help lists serve"
expect_status 2 "serve needs a model" -- "$SLINFER" serve
expect_match "$err" "--model is required" "usage message"
expect_status 2 "bad port" -- "$SLINFER" serve --model "$tmp" --port 70000
expect_status 2 "bad body size" -- "$SLINFER" serve --model "$tmp" --max-body-size lots

# A tiny model over the byte-level test tokenizer's 271 ids.
expect_status 0 "make the model" -- "$SLINFER" make-model \
    --config "$top/tests/server/tiny_config.json" \
    --tokenizer "$top/tests/data/tokenizers/tiny-bytelevel" --output "$tmp/m" --seed 3

# Port 0: the server picks a free one and logs it.
SLINFER_API_KEY=test-key "$SLINFER" serve --model "$tmp/m" --served-model-name tiny --port 0 \
    --threads 2 --max-body-size 64K --idle-timeout 3 >"$tmp/out" 2>"$tmp/log" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*serving tiny on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    cat "$tmp/log" >&2
    fail "the server did not start"
    finish
    exit 1
fi
pass
expect_match "$(cat "$tmp/log")" 'an API key is required' "the key from SLINFER_API_KEY"

python3 "$here/serve_check.py" --port "$port" --pid "$pid" --slinfer "$SLINFER" \
    --model "$tmp/m" --api-key test-key --loadgen "$loadgen" \
    --requests "${SERVE_REQUESTS:-2000}" --concurrency "${SERVE_CONCURRENCY:-32}" \
    --idle-timeout 3 && pass || fail "serve_check.py (see above)"

# serve_check.py sent SIGTERM last: the server drains and exits 0.
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] && pass || fail "serve exited with $status after SIGTERM"
log=$(cat "$tmp/log")
expect_match "$log" 'serve: stopping; draining' "SIGTERM drains"
expect_match "$log" 'serve: stopped' "and stops"
if printf '%s\n' "$log" | grep -E 'AddressSanitizer|runtime error|internal:' >&2; then
    fail "the server log shows a sanitizer report or an internal error"
else
    pass
fi

# A second server: two requests fill --max-queue, and SIGTERM's drain runs
# out of time before they end.
SLINFER_API_KEY=test-key "$SLINFER" serve --model "$tmp/m" --served-model-name tiny --port 0 \
    --threads 1 --max-queue 2 --shutdown-timeout 0.5 >"$tmp/out" 2>"$tmp/log" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*serving tiny on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/log")
    [ -n "$port" ] && break
    sleep 0.1
done
python3 "$here/serve_check.py" --port "${port:-0}" --pid "$pid" --slinfer "$SLINFER" \
    --model "$tmp/m" --api-key test-key --parts queue && pass || fail "the queue and drain checks"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] && pass || fail "serve exited with $status after a drain that timed out"
expect_match "$(cat "$tmp/log")" 'still running after the drain; they fail with 503' \
    "the drain gave up"
finish
