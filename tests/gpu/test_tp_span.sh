#!/bin/sh
# test_tp_span.sh - a TP group across two processes (one GPU each, started
# with the env bootstrap, as srun --gpus-per-task=1 would) on a machine with
# two GPUs, against the same group inside one process:
#   1. `slinfer run --tp 2` over the two processes writes every record, and
#      each result equals the one-process TP 2 run's (both reduce through
#      NCCL: --disable-custom-all-reduce in the one-process run), greedy and
#      sampled, with logprobs; the logs say who leads and who follows;
#   2. without CUDA_VISIBLE_DEVICES, the job's share of the node's GPUs puts
#      the two processes on different GPUs by itself;
#   3. a follower killed in the middle ends the leader non-zero, quickly;
#   4. `slinfer serve --tp 2` over the two processes answers and stops
#      cleanly on SIGTERM;
#   5. bench: batch 1 and 64 on the Llama-3.1-8B shape, the group across
#      two processes against inside one (RESULT lines).
# Exit 77 with fewer than two GPUs. `make check` runs it in a CUDA build;
# tests/gpu/device_run.sh over the bundle of scripts/device-bundle.sh (B=its
# bin folder).
set -u
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-$(dirname "${SLINFER:-$srcdir/.device/cuda/bin/slinfer}")}
fx=${SLINFER_FIXTURES:-$srcdir/../shared/fixtures}/models
M=$srcdir/examples/configs
work=$(mktemp -d /tmp/slinfer-span-XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0
failed=0
port=$((21000 + $$ % 20000))

ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
[ "$ngpu" -ge 2 ] || { echo "SKIP: two GPUs needed, $ngpu here"; exit 77; }

check() { # STATUS NAME: STATUS 0 passes
    if [ "$1" -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok   $2"
    else
        failed=$((failed + 1))
        echo "FAIL $2"
    fi
}

# span TAG VISIBLE CMD...: ranks 1 and 0 of CMD under the env bootstrap, rank
# r seeing GPU r (VISIBLE=each) or both (VISIBLE=all); output in TAG.r.out,
# .err, exit status in TAG.r.rc.
span() {
    tag=$1 visible=$2
    shift 2
    port=$((port + 1))
    for r in 1 0; do
        (
            [ "$visible" = each ] && export CUDA_VISIBLE_DEVICES=$r
            SLINFER_RANK=$r SLINFER_WORLD_SIZE=2 SLINFER_COORDINATOR=127.0.0.1:$port \
                timeout 300 "$@" >"$work/$tag.$r.out" 2>"$work/$tag.$r.err"
            echo $? >"$work/$tag.$r.rc"
        ) &
    done
    wait
}

# same A.jsonl B.jsonl: 0 when every record's response (id and timestamps
# aside) is the same in both
same() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
def load(path):
    out = {}
    for line in open(path):
        rec = json.loads(line)
        body = rec.get("response", {}).get("body", {})
        for key in ("id", "created", "system_fingerprint"):
            body.pop(key, None)
        out[rec["custom_id"]] = json.dumps(body, sort_keys=True)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
diff = [k for k in a if a[k] != b.get(k)]
print(f"  {len(a)} and {len(b)} records, {len(diff)} differ" + (f" (first: {diff[0]})" if diff else ""))
sys.exit(0 if a and len(a) == len(b) and not diff else 1)
EOF
}

# ---- 1. run over two processes = run in one ----------------------------------
model=$fx/tiny-llama3
i=0
while [ "$i" -lt 48 ]; do
    if [ $((i % 2)) -eq 0 ]; then
        printf '{"id": "g-%d", "prompt": "The number %d is", "max_tokens": 16, "temperature": 0, "logprobs": 3}\n' "$i" "$i"
    else
        printf '{"id": "s-%d", "prompt": "Story %d:", "max_tokens": 24, "temperature": 0.9, "top_p": 0.95, "seed": %d}\n' "$i" "$i" "$i"
    fi
    i=$((i + 1))
done >"$work/in.jsonl"
CUDA_VISIBLE_DEVICES=0,1 "$B/slinfer" run --bootstrap single --model "$model" --tp 2 \
    --disable-custom-all-reduce --input "$work/in.jsonl" --output "$work/one.h5" \
    --output-jsonl "$work/one.jsonl" >/dev/null 2>"$work/one.err"
check $? "one process, TP 2: run exits 0"
span spread each "$B/slinfer" run --model "$model" --tp 2 --input "$work/in.jsonl" \
    --output "$work/two.h5" --output-jsonl "$work/two.jsonl"
check $(($(cat "$work/spread.0.rc") + $(cat "$work/spread.1.rc"))) \
    "two processes, TP 2: both exit 0 ($(grep -h 'error' "$work"/spread.*.err | head -2))"
grep -q "TP group 0 of 1: TP ranks 0..0 of 2 here, the leader" "$work/spread.0.err"
check $? "rank 0 leads the group"
grep -q "TP group 0 of 1: TP ranks 1..1 of 2 here, following (rank 0 leads)" "$work/spread.1.err"
check $? "rank 1 follows"
grep -q "TP 2 (ranks 1..1 in this process)" "$work/spread.1.err"
check $? "rank 1 holds TP rank 1's weights on its GPU"
same "$work/one.jsonl" "$work/two.jsonl"
check $? "two processes give the one-process results (greedy, sampled, logprobs)"

# ---- 2. the job's share of the GPUs, without CUDA_VISIBLE_DEVICES ----------
span share all "$B/slinfer" run --model "$model" --tp 2 --input "$work/in.jsonl" \
    --output "$work/share.h5" --output-jsonl "$work/share.jsonl"
check $(($(cat "$work/share.0.rc") + $(cat "$work/share.1.rc"))) "GPU share: both exit 0"
same "$work/one.jsonl" "$work/share.jsonl"
check $? "GPU share: the same results"

# ---- 3. a follower that dies ends the leader -------------------------------
# (the Llama-3.1-8B shape with dummy weights made on the GPUs: long enough)
python3 -c '
for i in range(64):
    ids = ", ".join(str((i * 131 + k * 7) % 120000 + 100) for k in range(128))
    print("{\"id\": \"long-%d\", \"input_ids\": [%s], \"max_tokens\": 3000, \"ignore_eos\": true}" % (i, ids))
' >"$work/long.jsonl"
port=$((port + 1))
start=$(date +%s)
for r in 1 0; do
    CUDA_VISIBLE_DEVICES=$r SLINFER_RANK=$r SLINFER_WORLD_SIZE=2 \
        SLINFER_COORDINATOR=127.0.0.1:$port "$B/slinfer" run --model $M/llama-3.1-8b \
        --load-format dummy --tp 2 --input "$work/long.jsonl" --output "$work/dead.h5" \
        >/dev/null 2>"$work/dead.$r.err" &
    eval "pid$r=\$!"
done
sleep 15
kill -9 "$pid1"
( sleep 90; kill -9 "$pid0" 2>/dev/null ) &
watchdog=$!
wait "$pid0"
rc=$?
kill "$watchdog" 2>/dev/null
secs=$(($(date +%s) - start))
[ "$rc" -ne 0 ] && [ "$rc" -ne 137 ] && [ "$secs" -lt 60 ]
check $? "a killed follower ends the leader non-zero (rc $rc after $secs s: $(grep -h 'error' "$work/dead.0.err" | head -1 | cut -c1-160))"

# ---- 4. serve over two processes ------------------------------------------------
sport=$((port + 500))
port=$((port + 1))
for r in 1 0; do
    CUDA_VISIBLE_DEVICES=$r SLINFER_RANK=$r SLINFER_WORLD_SIZE=2 \
        SLINFER_COORDINATOR=127.0.0.1:$port "$B/slinfer" serve --model "$model" --tp 2 \
        --port $sport >"$work/serve.$r.out" 2>"$work/serve.$r.err" &
    eval "pid$r=\$!"
done
up=1
for _ in $(seq 60); do
    env -u LD_LIBRARY_PATH curl -sf "http://127.0.0.1:$sport/health" >/dev/null && { up=0; break; }
    sleep 1
done
check $up "serve over two processes: healthy"
reply=$(env -u LD_LIBRARY_PATH curl -s "http://127.0.0.1:$sport/v1/completions" \
    -H 'Content-Type: application/json' \
    -d '{"model": "tiny-llama3", "prompt": "The number 4 is", "max_tokens": 16, "temperature": 0}')
echo "$reply" | grep -q '"finish_reason"'
check $? "serve over two processes: a completion ($(echo "$reply" | cut -c1-120))"
( sleep 60; kill -9 "$pid0" "$pid1" 2>/dev/null ) &
watchdog=$!
kill -TERM "$pid0" "$pid1"
wait "$pid0"
rc0=$?
wait "$pid1"
rc1=$?
kill "$watchdog" 2>/dev/null
check $((rc0 + rc1)) "serve over two processes: both stop with 0 on SIGTERM ($rc0 $rc1)"

# ---- 5. bench: across two processes against inside one ----------------------
for shape in "--batch-size 1 --input-len 128 --output-len 256 --runs 3" \
    "--batch-size 64 --input-len 128 --output-len 256 --runs 2"; do
    # shellcheck disable=SC2086
    span bench each "$B/slinfer" bench --bootstrap env --model $M/llama-3.1-8b \
        --load-format dummy --tp 2 $shape
    check $(($(cat "$work/bench.0.rc") + $(cat "$work/bench.1.rc"))) "bench across processes: $shape"
    echo "  two processes:        $(grep '^RESULT' "$work/bench.0.out")"
    # shellcheck disable=SC2086
    echo "  one process, NCCL:    $("$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy --tp 2 \
        --disable-custom-all-reduce $shape 2>/dev/null | grep '^RESULT')"
    # shellcheck disable=SC2086
    echo "  one process, one-shot: $("$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy --tp 2 \
        $shape 2>/dev/null | grep '^RESULT')"
done

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
