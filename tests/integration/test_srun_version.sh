#!/bin/sh
# test_srun_version.sh - slinfer starts on two emulated nodes under
# `srun --mpi=pmix` and answers --version on each of them.
. "$SLINFER_SRCDIR/tests/cli/testlib.sh"

expect_status 0 "srun -N 2 --mpi=pmix slinfer --version" -- \
    srun -N 2 --ntasks-per-node=1 --mpi=pmix --label --kill-on-bad-exit=1 \
    sh -c 'echo "host=$(hostname)"; exec "$SLINFER" --version'
printf '%s\n' "$out"

# srun --label prefixes each line with the task number.
expect_match "$out" '^0: host=node1$' "task 0 runs on node1"
expect_match "$out" '^1: host=node2$' "task 1 runs on node2"
expect_match "$out" '^0: slinfer [0-9]+\.[0-9]+\.[0-9]+ \(git ' "task 0 printed the version"
expect_match "$out" '^1: slinfer [0-9]+\.[0-9]+\.[0-9]+ \(git ' "task 1 printed the version"
# Both tasks run the same build.
v0=$(printf '%s\n' "$out" | sed -n 's/^0: \(slinfer .*\)$/\1/p')
v1=$(printf '%s\n' "$out" | sed -n 's/^1: \(slinfer .*\)$/\1/p')
[ -n "$v0" ] && [ "$v0" = "$v1" ] && pass || fail "versions differ: '$v0' vs '$v1'"

finish
