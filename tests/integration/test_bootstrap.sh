#!/bin/sh
# test_bootstrap.sh - the bootstrap under a real srun: ranks, node ids and
# local ranks with one task per node and several, the collectives, the
# message for srun without --mpi=pmix, the env bootstrap across the nodes
# without PMIx, and a dead, aborting or hanging rank
# bringing the whole step down with a non-zero status instead of hanging it.
#
# Needs a SLURM cluster with at least 2 nodes and PMIx (e.g.
# `tests/slurm/cluster.sh up 2; eval "$(tests/slurm/cluster.sh env)"`),
# SLURM_CONF set, and SLINFER_BUILD = a build directory where `make check`
# has built tests/integration/boot_probe. Skips (77) without a cluster.
. "$(dirname "$0")/../cli/testlib.sh"

: "${SLINFER_BUILD:?set SLINFER_BUILD to the build directory}"
probe="$SLINFER_BUILD/tests/integration/boot_probe"
limit=300 # seconds any one srun may take before we call it a hang

if [ -z "${SLURM_CONF:-}" ] || ! command -v srun >/dev/null 2>&1 ||
    ! timeout 20 sinfo -h >/dev/null 2>&1; then
    echo "SKIP: no SLURM cluster (SLURM_CONF unset or slurmctld not answering);" \
        "start one with tests/slurm/cluster.sh up 2"
    exit 77
fi
nodes=$(timeout 20 sinfo -h -N -o '%N' | sort -u | wc -l)
if [ "$nodes" -lt 2 ]; then
    echo "SKIP: the cluster has $nodes node(s), this test needs 2"
    exit 77
fi
if [ ! -x "$probe" ]; then
    echo "$probe is missing: run 'make check' in $SLINFER_BUILD first" >&2
    exit 1
fi

# expect_failure DESCRIPTION -- CMD...: like expect_status, for any non-zero
# status; also sets $elapsed (whole seconds).
expect_failure() {
    what=$1
    shift 2
    out_file=$(mktemp) err_file=$(mktemp)
    t0=$(date +%s)
    "$@" >"$out_file" 2>"$err_file"
    got=$?
    elapsed=$(($(date +%s) - t0))
    out=$(cat "$out_file") err=$(cat "$err_file")
    rm -f "$out_file" "$err_file"
    if [ "$got" -ne 0 ] && [ "$got" -ne 124 ]; then pass; else
        fail "$what: exit status $got, expected a failure (not 124 = hang) (stderr: $err)"
    fi
}

# expect_count TEXT PATTERN N DESCRIPTION: N lines of TEXT match PATTERN.
expect_count() {
    n=$(printf '%s\n' "$1" | grep -Ec -- "$2")
    if [ "$n" -eq "$3" ]; then pass; else
        fail "$4: $n lines match /$2/, expected $3 in: $1"
    fi
}

expect_fast() { # DESCRIPTION: $elapsed well below the hang limit
    if [ "$elapsed" -lt 60 ]; then pass; else
        fail "$1: took $elapsed s"
    fi
}

# srun with a hang guard; a dead task does not end the step by itself, so
# the bootstrap has to.
run_srun() { timeout "$limit" srun --kill-on-bad-exit=0 "$@"; }

# --- one task per node ------------------------------------------------------
expect_status 0 "2 nodes x 1 task" -- run_srun -N 2 --ntasks-per-node=1 --mpi=pmix "$probe"
expect_count "$out" '^\{"rank":' 2 "2x1: one JSON line per rank"
expect_count "$out" '"size":2,"local_rank":0,"local_size":1,"node_id":[01],"num_nodes":2,' 2 "2x1: layout"
expect_count "$out" '"rank":0,.*"node_id":0,' 1 "2x1: rank 0 is on node 0"
expect_count "$out" '"rank":1,.*"node_id":1,' 1 "2x1: rank 1 is on node 1"
expect_count "$out" '"backend":"pmix"' 2 "2x1: pmix backend"
expect_count "$out" '"allgather_ok":true,"bcast_ok":true,"barrier_ok":true,"layout_ok":true' 2 "2x1: collectives"
hosts=$(printf '%s\n' "$out" | sed -n 's/.*"hosts":\(\[[^]]*\]\).*/\1/p' | sort -u)
expect_count "$hosts" '^\["[^"]+","[^"]+"\]$' 1 "2x1: every rank sees the same 2 hostnames"
h0=$(printf '%s\n' "$hosts" | sed 's/^\["\([^"]*\)","\([^"]*\)"\]$/\1/')
h1=$(printf '%s\n' "$hosts" | sed 's/^\["\([^"]*\)","\([^"]*\)"\]$/\2/')
if [ -n "$h0" ] && [ "$h0" != "$h1" ]; then pass; else
    fail "2x1: hostnames '$h0' '$h1' are not 2 distinct hosts"
fi

# --- several tasks per node (one per GPU) -----------------------------------
expect_status 0 "2 nodes x 2 tasks" -- run_srun -N 2 --ntasks-per-node=2 --mpi=pmix "$probe"
expect_count "$out" '^\{"rank":' 4 "2x2: one JSON line per rank"
expect_count "$out" '"size":4,"local_rank":[01],"local_size":2,"node_id":[01],"num_nodes":2,' 4 "2x2: layout"
expect_count "$out" '"local_rank":0,.*"node_id":0,' 1 "2x2: one local rank 0 on node 0"
expect_count "$out" '"local_rank":1,.*"node_id":1,' 1 "2x2: one local rank 1 on node 1"
expect_count "$out" '"rank":[01],.*"node_id":0,' 2 "2x2: block distribution, ranks 0-1 on node 0"
expect_count "$out" '"allgather_ok":true,"bcast_ok":true,"barrier_ok":true,"layout_ok":true' 4 "2x2: collectives"

expect_status 0 "2 nodes x 2 tasks, cyclic" -- run_srun -N 2 -n 4 -m cyclic --mpi=pmix "$probe" --iters 2
expect_count "$out" '"rank":[02],.*"node_id":0,' 2 "cyclic: ranks 0 and 2 on node 0"
expect_count "$out" '"layout_ok":true' 4 "cyclic: layout"

# --- srun without PMIx --------------------------------------------------------
expect_failure "srun without --mpi=pmix" -- run_srun -N 2 --ntasks-per-node=1 "$probe"
# shellcheck disable=SC2016 # the backquotes are part of the message
expect_match "$err" 'runs under srun .* but PMIx is not set up: run `srun --mpi=pmix \.\.\.`' "no PMIx: the message"
expect_count "$err" 'PMIx is not set up' 1 "no PMIx: said once, by task 0"
expect_fast "no PMIx"
expect_status 0 "one-task srun without PMIx" -- run_srun -N 1 -n 1 "$probe" --iters 1
expect_match "$out" '"size":1,.*"backend":"single"' "one task: single"

# --- srun without PMIx, the env bootstrap across the two nodes ----------------
# What a script does where PMIx is missing: rank and size from srun, rank 0's
# node address as the coordinator; SLINFER_COORDINATOR makes auto pick env.
addr=$(scontrol show node "$(sinfo -h -N -o '%N' | sort | head -n 1)" |
    sed -n 's/.*NodeAddr=\([^ ]*\).*/\1/p')
port=$((30000 + $$ % 20000))
expect_status 0 "env bootstrap, 2 nodes x 2 tasks" -- env SLINFER_COORDINATOR="$addr:$port" \
    timeout "$limit" srun --kill-on-bad-exit=0 -N 2 --ntasks-per-node=2 \
    sh -c 'SLINFER_RANK=$SLURM_PROCID SLINFER_WORLD_SIZE=$SLURM_NTASKS exec "$0" --iters 2' "$probe"
expect_count "$out" '"size":4,"local_rank":[01],"local_size":2,"node_id":[01],"num_nodes":2,' 4 \
    "env: layout from the hostnames"
expect_count "$out" '"backend":"env"' 4 "env: env backend"
expect_count "$out" '"allgather_ok":true,"bcast_ok":true,"barrier_ok":true,"layout_ok":true' 4 \
    "env: collectives across the nodes"
expect_failure "env bootstrap, a rank dies" -- env SLINFER_COORDINATOR="$addr:$((port + 1))" \
    timeout "$limit" srun --kill-on-bad-exit=0 -N 2 --ntasks-per-node=1 \
    sh -c 'SLINFER_RANK=$SLURM_PROCID SLINFER_WORLD_SIZE=$SLURM_NTASKS exec "$0" --die-rank 1' \
    "$probe"
expect_fast "env: a dead rank"

# --- inside an sbatch allocation, outside any srun step: single ----------------
sb_out=$(mktemp)
expect_status 0 "sbatch --wait" -- timeout "$limit" sbatch --wait -N 1 -o "$sb_out" --wrap "$probe --iters 1"
expect_match "$(cat "$sb_out")" '"size":1,.*"backend":"single"' "batch script: single"
rm -f "$sb_out"

# --- a rank dies: the others must fail fast, not wait for the timeout ---------
expect_failure "rank 1 SIGKILLs itself" -- \
    run_srun --export=ALL,SLINFER_BOOT_TIMEOUT=120 -N 2 --ntasks-per-node=2 --mpi=pmix "$probe" --die-rank 1
# Whichever notices first: the liveness watcher (the dead rank's connection
# to rank 0 closes) or a survivor's barrier (its value never arrives).
expect_match "$err" "(rank 1 on node[0-9] died or exited without finishing|barrier after the death of rank 1 returned 'bootstrap error' after [0-9]\.[0-9]+ s)" \
    "dead rank: a survivor notices within seconds"
expect_match "$err" 'aborting the job' "dead rank: the survivors abort the job"
if printf '%s\n' "$err" | grep -q 'timed out'; then
    fail "dead rank: detected by the timeout, not by the fence: $err"
else pass; fi
expect_fast "dead rank"

expect_failure "rank 0 dies, --kill-on-bad-exit=1" -- \
    timeout "$limit" srun --kill-on-bad-exit=1 --export=ALL,SLINFER_BOOT_TIMEOUT=120 \
    -N 2 --ntasks-per-node=2 --mpi=pmix "$probe" --die-rank 0
expect_fast "dead rank, kill-on-bad-exit"

# --- sl_boot_abort: the whole step ends with the given status -----------------
expect_status 3 "rank 2 aborts with status 3" -- run_srun -N 2 --ntasks-per-node=2 --mpi=pmix "$probe" --abort-rank 2
expect_match "$err" 'aborting the job \(exit status 3\): boot_probe: --abort-rank' "abort: message"
expect_fast "abort"

# --- a rank hangs: the timeout trips and names the operation -------------------
expect_failure "rank 1 hangs, timeout 3 s" -- \
    run_srun --export=ALL,SLINFER_BOOT_TIMEOUT=3 -N 2 --ntasks-per-node=1 --mpi=pmix "$probe" --hang-rank 1
expect_match "$err" 'barrier #[0-9]+ timed out after 3 s' "hang: the timeout names the barrier"
expect_fast "hang"

finish
