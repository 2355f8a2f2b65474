#!/bin/sh
# test_serve.sh - `srun -N 2 --mpi=pmix slinfer serve --tp 2` on the emulated
# cluster: rank 0 answers HTTP on the head node (reached from here through
# the cluster's bridge), /health turns 200 when both DP groups are ready,
# requests are served by both groups (per-group counters of /metrics) with
# the same tokens for the same seed whichever group runs them, a load from
# this host gets no error, and `scancel --signal=TERM` drains and ends the
# step with status 0.
#
# Needs a SLURM cluster with 2 nodes (tests/slurm/cluster.sh up 2), SLURM_CONF,
# python3, and SLINFER_BUILD with `make check` built (tests/server/loadgen).
. "$(dirname "$0")/../cli/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
: "${SLINFER_BUILD:?set SLINFER_BUILD to the build directory}"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
loadgen="$SLINFER_BUILD/tests/server/loadgen"

if [ -z "${SLURM_CONF:-}" ] || ! command -v srun >/dev/null 2>&1 ||
    ! timeout 20 sinfo -h >/dev/null 2>&1; then
    echo "SKIP: no SLURM cluster; start one with tests/slurm/cluster.sh up 2"
    exit 77
fi
if [ "$(timeout 20 sinfo -h -N -o '%N' | sort -u | wc -l)" -lt 2 ]; then
    echo "SKIP: this test needs 2 nodes"
    exit 77
fi
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is needed"; exit 77; }
[ -x "$loadgen" ] || { echo "$loadgen is missing: run make check in $SLINFER_BUILD" >&2; exit 1; }

# The nodes share this file system: the model folder is the same path everywhere.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slinfer-itest-serve-XXXXXX")
name="slinfer-serve-$$"
jid=
srun_pid=
cleanup() {
    [ -n "$jid" ] && scancel "$jid" 2>/dev/null
    [ -n "$srun_pid" ] && kill "$srun_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"
expect_status 0 "make the model" -- "$SLINFER" make-model \
    --config "$top/tests/server/tiny_config.json" \
    --tokenizer "$top/tests/data/tokenizers/tiny-bytelevel" --output "$tmp/m" --seed 3

port=$((20000 + $$ % 20000))
key=itest-key
timeout 300 srun -N 2 --ntasks-per-node=1 --mpi=pmix --kill-on-bad-exit=1 -J "$name" \
    "$SLINFER" serve --model "$tmp/m" --served-model-name tiny --tp 2 --threads 2 \
    --host 0.0.0.0 --port "$port" --api-key "$key" --shutdown-timeout 60 \
    >"$tmp/out" 2>"$tmp/log" &
srun_pid=$!

# Rank 0's node, from its log line; its address from the cluster's hosts block.
head_node=
for _ in $(seq 1 300); do
    head_node=$(sed -n 's/^slinfer\[\([^:]*\):r0\/2 [^]]*\] info: serving tiny on .*/\1/p' \
        "$tmp/log" | head -n 1)
    [ -n "$head_node" ] && break
    kill -0 "$srun_pid" 2>/dev/null || break
    sleep 0.2
done
jid=$(squeue -h -n "$name" -o %i | head -n 1)
addr=$(getent hosts "$head_node" | awk '{print $1; exit}')
if [ -z "$head_node" ] || [ -z "$addr" ]; then
    cat "$tmp/log"
    fail "the server did not start on the head node (node '$head_node', address '$addr')"
    finish
    exit 1
fi
pass
echo "rank 0 on $head_node ($addr), port $port, job $jid"

# HTTP from this host, through the bridge, with python3 (the CI has no curl).
http() { # METHOD PATH [BODY]: prints "STATUS BODY"
    python3 - "$addr" "$port" "$key" "$@" <<'PY'
import http.client, sys
addr, port, key, method, path = sys.argv[1:6]
body = sys.argv[6] if len(sys.argv) > 6 else None
c = http.client.HTTPConnection(addr, int(port), timeout=60)
c.request(method, path, body=body, headers={"Authorization": "Bearer " + key,
                                            "Content-Type": "application/json"})
r = c.getresponse()
print(r.status, r.read().decode())
PY
}

ready=
for _ in $(seq 1 150); do
    res=$(http GET /health 2>/dev/null) || res=
    case $res in "200 "*) ready=yes; break ;; esac
    sleep 0.2
done
[ -n "$ready" ] && pass || fail "/health never answered 200 (last: $res)"
expect_match "$res" '"dp_group":1,"ready":true' "both DP groups ready"

# The same seeded request, many times: both groups answer, with the same text.
texts=$tmp/texts
: > "$texts"
for i in $(seq 1 8); do
    res=$(http POST /v1/completions '{"prompt": "Hello world", "max_tokens": 12, "seed": 42}')
    case $res in "200 "*) pass ;; *) fail "completion $i: $res" ;; esac
    printf '%s\n' "$res" | sed 's/.*"text":"\([^"]*\)".*/\1/' >> "$texts"
done
texts=$(sort -u "$texts")
[ "$(printf '%s\n' "$texts" | wc -l)" -eq 1 ] && pass || fail "one seed, different texts: $texts"
expect_status 0 "generate agrees" -- "$SLINFER" generate --model "$tmp/m" --tp 2 --json \
    --prompt "Hello world" --max-tokens 12 --seed 42 --threads 1
want=$(printf '%s\n' "$out" | sed 's/.*"text": "\([^"]*\)".*/\1/')
[ "$want" = "$texts" ] && pass || fail "serve '$texts' vs generate '$want'"

# Completions and chat, streamed and not, with logprobs and n > 1, equal
# `slinfer generate` whichever group runs them (the DP channel carries it all).
expect_status 0 "the OpenAI routes match generate through both groups" -- \
    python3 "$top/tests/server/serve_check.py" --host "$addr" --port "$port" \
    --slinfer "$SLINFER" --model "$tmp/m" --api-key "$key" --tp 2 --parts match,metrics
printf '%s\n' "$out" "$err" | tail -n 5

expect_status 0 "load from this host" -- "$loadgen" --host "$addr" --port "$port" \
    --api-key "$key" --model tiny --requests 400 --concurrency 16 --disconnect 0.1
printf '%s\n' "$out"

# Both groups ran requests, and no block is held once the load is over.
served=
for _ in $(seq 1 50); do
    m=$(http GET /metrics)
    sum() { printf '%s\n' "$m" | awk -v re="$1" '$0 ~ re {s += $2} END {print s + 0}'; }
    g0=$(sum '^slinfer_request_success_total[{]dp_group="0",')
    g1=$(sum '^slinfer_request_success_total[{]dp_group="1",')
    used=$(sum '^slinfer_kv_cache_used_blocks[{]')
    if [ "$g0" -gt 0 ] && [ "$g1" -gt 0 ] && [ "$used" -eq 0 ]; then served=yes; break; fi
    sleep 0.2
done
[ -n "$served" ] && pass || fail "groups served $g0 and $g1 requests, $used KV blocks held"
echo "DP group 0 finished $g0 requests, DP group 1 $g1"

# SIGTERM to every task: rank 0 drains and tells rank 1 to stop; the step ends with 0.
expect_status 0 "scancel --signal=TERM" -- scancel --signal=TERM "$jid"
status=0
wait "$srun_pid" || status=$?
srun_pid=
jid=
[ "$status" -eq 0 ] && pass || { cat "$tmp/log"; fail "srun exited with $status"; }
expect_match "$(cat "$tmp/log")" 'r0/2 .*serve: stopped' "rank 0 stopped cleanly"
finish
