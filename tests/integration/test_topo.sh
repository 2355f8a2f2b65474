#!/bin/sh
# test_topo.sh - `slinfer topo` across the emulated nodes: the job-wide plan
# gathered on rank 0, the preflight stopping every rank on mismatched
# arguments, srun without --mpi=pmix, and a rank killed mid-start ending the
# job with a non-zero status well within 60 s.
. "$SLINFER_SRCDIR/tests/cli/testlib.sh"

hgx="$SLINFER_SRCDIR/tests/data/topologies/shared-switch.xml"
limit=120

# --- the job-wide plan as JSON ----------------------------------------------
expect_status 0 "srun -N 2 slinfer topo --json" -- \
    timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix "$SLINFER" topo --json
summary=$(printf '%s\n' "$out" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
ranks = doc["ranks"]
print("size", doc["size"], "nodes", doc["num_nodes"], "ranks", len(ranks))
print("hosts", " ".join(sorted(r["hostname"] for r in ranks)))
print("node_ids", " ".join(str(r["node_id"]) for r in ranks))
print("plans", " ".join(r["plan"]["source"] for r in ranks))
')
expect_match "$summary" '^size 2 nodes 2 ranks 2$' "two ranks on two nodes, printed once"
expect_match "$summary" '^hosts node1 node2$' "distinct hostnames"
expect_match "$summary" '^node_ids 0 1$' "distinct node ids"
expect_match "$summary" '^plans live live$' "each rank planned its own node"

# --- tables, 2 tasks per node, --topology differing per node (node-local) ----
expect_status 0 "4 ranks, per-node topology" -- \
    timeout $limit srun -N 2 --ntasks-per-node=2 --mpi=pmix \
    sh -c 'if [ "$SLURM_NODEID" = 1 ]; then t="--topology '"$hgx"'"; fi; exec "$SLINFER" topo $t'
expect_match "$out" '^4 rank\(s\) on 2 node\(s\)$' "4 ranks on 2 nodes"
expect_match "$out" '^rank 3 on node2 \(node 1, local rank 1 of 2\)' "rank 3 is node2's second"
expect_match "$out" 'topology: .*shared-switch.xml' "node2 planned from its XML file"

# --- mismatched arguments stop every rank -----------------------------------
expect_status 1 "mismatched --cpu-bind" -- \
    timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix --label --kill-on-bad-exit=0 \
    sh -c 'if [ "$SLURM_PROCID" = 1 ]; then exec "$SLINFER" topo --cpu-bind none; fi; exec "$SLINFER" topo'
for r in 0 1; do
    expect_match "$err" "^$r: .*error: preflight: rank 1 on node2 differs from rank 0 on node1: --cpu-bind is 'none' on node2 but 'preferred' on node1" \
        "rank $r names the node and the argument"
done

# --- srun without --mpi=pmix -------------------------------------------------
expect_status 1 "srun without --mpi=pmix" -- \
    timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=none "$SLINFER" topo
expect_match "$err" 'srun --mpi=pmix' "the message says to add --mpi=pmix"

# --- a rank killed while starting --------------------------------------------
# "init": before the rank connected to rank 0, found by the connect timeout.
for step in init preflight placement; do
    t0=$(date +%s)
    SLINFER_CONNECT_TIMEOUT=20 SLINFER_FAULT="kill@$step:1" \
        timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix --kill-on-bad-exit=0 \
        "$SLINFER" topo >/dev/null 2>&1
    rc=$?
    elapsed=$(($(date +%s) - t0))
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$elapsed" -lt 60 ]; then pass; else
        fail "rank 1 killed at $step: exit $rc after ${elapsed}s (want non-zero, < 60 s)"
    fi
    echo "killed at $step: srun exited $rc after ${elapsed}s"
done

finish
