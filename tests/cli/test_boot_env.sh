#!/bin/sh
# test_boot_env.sh - the env bootstrap (SLINFER_RANK, SLINFER_WORLD_SIZE,
# SLINFER_COORDINATOR): ranks started by hand on this machine, no launcher.
# boot_probe's collectives on 4 ranks started in any order; a rank that dies,
# aborts or hangs ends every rank non-zero (never a hang); bad settings get
# a message naming the variable; `slinfer run` over two env ranks (two DP
# groups) writes every record once; TP step links between env ranks carry
# every byte and a dead leader fails its followers; the processes of a node
# split or keep the GPUs they see.
. "$(dirname "$0")/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
probe="$(dirname "$(dirname "$SLINFER")")/tests/integration/boot_probe"
[ -x "$probe" ] || { echo "SKIP: $probe not built"; exit 77; }
work=$(mktemp -d /tmp/slinfer-env-XXXXXX)
trap 'rm -rf "$work"' EXIT
base=$((20000 + $$ % 20000))

# ranks N PORT CMD...: starts ranks 0..N-1 of CMD (rank 0 last, after the
# others are already trying), waits for all; rank r's output in $work/r.out
# and .err, its exit status in $work/r.rc. Prints the seconds it took.
ranks() {
    n=$1 port=$2
    shift 2
    start=$(date +%s)
    r=$((n - 1))
    while [ "$r" -ge 0 ]; do
        [ "$r" -eq 0 ] && sleep 1
        (SLINFER_RANK=$r SLINFER_WORLD_SIZE=$n SLINFER_COORDINATOR=127.0.0.1:$port \
            timeout 60 "$@" >"$work/$r.out" 2>"$work/$r.err"; echo $? >"$work/$r.rc") &
        r=$((r - 1))
    done
    wait
    echo $(($(date +%s) - start))
}

# all_rc N: the exit statuses of ranks 0..N-1, space-separated
all_rc() {
    s=""
    r=0
    while [ "$r" -lt "$1" ]; do s="$s $(cat "$work/$r.rc")"; r=$((r + 1)); done
    echo $s
}

# 1. Four ranks, collectives agree on every rank.
ranks 4 $base "$probe" --iters 3 >/dev/null
expect_match "$(all_rc 4)" '^0 0 0 0$' "4 ranks: every rank exits 0"
ok=$(cat "$work"/[0-3].out | grep -c '"backend": *"env".*"size": *4\|"size": *4.*"backend": *"env"')
all_ok=$(cat "$work"/[0-3].out | grep -c '"allgather_ok": *true.*"bcast_ok": *true.*"barrier_ok": *true')
expect_match "$ok $all_ok" '^4 4$' "4 ranks: backend env, size 4, every collective agrees"

# 2. A rank that dies after start: nobody hangs, everyone fails.
secs=$(ranks 3 $((base + 1)) "$probe" --die-rank 2)
expect_match "$(all_rc 3)" '^[1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' "dead rank: every rank non-zero"
expect_match "$secs" '^([0-9]|1[0-9])$' "dead rank: over in under 20 s ($secs s)"

# 3. A rank that aborts: status 3 there, the others non-zero too.
ranks 3 $((base + 2)) "$probe" --abort-rank 1 >/dev/null
expect_match "$(all_rc 3)" '^[1-9][0-9]* 3 [1-9][0-9]*$' "abort: 3 on the aborting rank, failure elsewhere"

# 4. A rank that hangs: the others give up at SLINFER_BOOT_TIMEOUT.
secs=$(SLINFER_BOOT_TIMEOUT=3 ranks 3 $((base + 3)) "$probe" --hang-rank 1)
rc0=$(cat "$work/0.rc")
expect_match "$rc0" '^[1-9][0-9]*$' "hang: rank 0 fails"
expect_match "$secs" '^([0-9]|1[0-9]|2[0-9])$' "hang: over in under 30 s ($secs s)"

# 5. Bad settings: messages naming the variable.
expect_status 1 "rank out of range" -- env SLINFER_RANK=4 SLINFER_WORLD_SIZE=4 \
    SLINFER_COORDINATOR=127.0.0.1:$((base + 4)) "$probe" --bootstrap env
expect_match "$err" "SLINFER_RANK='4' is not a whole number in 0\.\.3" "rank out of range: message"
expect_status 1 "coordinator without a port" -- env SLINFER_RANK=0 SLINFER_WORLD_SIZE=2 \
    SLINFER_COORDINATOR=localhost "$probe" --bootstrap env
expect_match "$err" "SLINFER_COORDINATOR='localhost' is not HOST:PORT" "no port: message"
expect_status 1 "no coordinator" -- env -u SLINFER_COORDINATOR SLINFER_RANK=0 \
    SLINFER_WORLD_SIZE=2 "$probe" --bootstrap env
expect_match "$err" "SLINFER_COORDINATOR is not set" "no coordinator: message"
expect_status 1 "rank 0 never comes" -- env SLINFER_BOOT_TIMEOUT=2 SLINFER_RANK=1 \
    SLINFER_WORLD_SIZE=2 SLINFER_COORDINATOR=127.0.0.1:$((base + 5)) "$probe" --bootstrap env
expect_match "$err" "rank 1 cannot reach rank 0 at 127\.0\.0\.1:$((base + 5))" \
    "rank 0 never comes: message"

# 6. TP step links (comm/tp_link.h): two groups of two ranks, every byte of
# frames from 0 B to 3 MiB arrives; a leader that dies fails its followers.
ranks 4 $((base + 7)) "$probe" --tp-link 2 >/dev/null
expect_match "$(all_rc 4)" '^0 0 0 0$' "TP links of 2: every rank exits 0"
links=$(cat "$work"/[0-3].out | grep -c '"link_ok": true')
leaders=$(cat "$work"/[0-3].out | grep -c '"followers": 1')
expect_match "$links $leaders" '^4 2$' "TP links of 2: every frame intact, 2 leaders with 1 follower"
secs=$(ranks 4 $((base + 8)) "$probe" --tp-link 4 --die-rank 0)
expect_match "$(all_rc 4)" '^[1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' \
    "TP link: a dead leader fails every follower"
expect_match "$secs" '^([0-9]|1[0-9])$' "TP link: dead leader, over in under 20 s ($secs s)"

# 7. Which GPUs two processes of a node drive (slinfer topo, a topology file
# per rank): the same GPUs are split; disjoint sets (srun --gpus-per-task) are
# each process's own; overlapping sets are an error.
topo2() { # PORT XML0 XML1: rank r plans for XMLr; rank 0's JSON in $work/0.out
    for r in 1 0; do
        eval "xml=\$$((r + 2))"
        [ "$r" -eq 0 ] && sleep 1
        (SLINFER_RANK=$r SLINFER_WORLD_SIZE=2 SLINFER_COORDINATOR=127.0.0.1:$1 \
            timeout 60 "$SLINFER" topo --json --topology "$srcdir/tests/data/topologies/$xml.xml" \
            >"$work/$r.out" 2>"$work/$r.err"; echo $? >"$work/$r.rc") &
    done
    wait
}
drives() { # the "drives" lists of rank 0's JSON, one line each
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(str(r["drives"]).replace(" ", "") for r in d["ranks"]))' "$work/0.out"
}
topo2 $((base + 9)) hca-order hca-order
expect_match "$(all_rc 2) $(drives)" '^0 0 \[0,1\] \[2,3\]$' "GPU share: the same four GPUs split 2 + 2"
topo2 $((base + 10)) hca-order no-hca
expect_match "$(all_rc 2) $(drives)" '^0 0 \[0,1,2,3\] \[0\]$' "GPU share: disjoint GPUs, each drives all it sees"
topo2 $((base + 11)) numa-split no-hca
expect_match "$(all_rc 2)" '^[1-9][0-9]* [1-9][0-9]*$' "GPU share: overlapping sets fail on both ranks"
expect_match "$(cat "$work/0.err" "$work/1.err")" 'see overlapping sets of GPUs' \
    "GPU share: overlapping sets: the message says so"

# 8. slinfer run over two env ranks: two DP groups share the input.
"$SLINFER" make-model --config "$srcdir/examples/tiny-model/config.json" \
    --tokenizer "$srcdir/examples/tiny-model" --output "$work/model" >/dev/null ||
    fail "make-model"
i=0
while [ "$i" -lt 40 ]; do
    printf '{"id": "r-%d", "prompt": "prompt %d", "max_tokens": 6, "temperature": 0}\n' "$i" "$i"
    i=$((i + 1))
done >"$work/in.jsonl"
ranks 2 $((base + 6)) "$SLINFER" run --model "$work/model" --input "$work/in.jsonl" \
    --output "$work/out.h5" --output-jsonl "$work/out.jsonl" --threads 1 >/dev/null
expect_match "$(all_rc 2)" '^0 0$' "run over two env ranks: both exit 0 ($(cat "$work/0.err" "$work/1.err" | grep -i error | head -3))"
ids=$(grep -o '"custom_id": *"r-[0-9]*"' "$work/out.jsonl" 2>/dev/null | sort -u | wc -l)
lines=$(wc -l <"$work/out.jsonl" 2>/dev/null || echo 0)
expect_match "$ids $lines" '^40 40$' "run over two env ranks: 40 records, each once"
expect_match "$(cat "$work/0.err")" 'merged 2 parts: 40 results, 0 errors' \
    "run: rank 0 merges the parts of the two groups"

finish
