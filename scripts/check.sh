#!/bin/sh
# check.sh - run slinfer's tests on a build made by scripts/setup.sh.
#
#   ./scripts/check.sh [--build-dir DIR] [--unit-only]
#
# 1. `make check` in the build directory: Check unit tests, CLI tests, GPU
#    tests (those skip, status 77, where no GPU is usable).
# 2. As root, with SLURM installed: bring up an emulated 2-node SLURM cluster
#    (tests/slurm/cluster.sh), run tests/integration/ against it, take it
#    down. Elsewhere these are reported as skipped. --unit-only skips them.
#
# Exit status 0 only when nothing failed.
set -eu

build_dir=build
integration=yes
while [ $# -gt 0 ]; do
    case $1 in
        --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
        --build-dir=*) build_dir=${1#--build-dir=}; shift ;;
        --unit-only) integration=no; shift ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "check.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
case $build_dir in /*) ;; *) build_dir="$top/$build_dir" ;; esac
[ -f "$build_dir/Makefile" ] || {
    echo "check.sh: no build in $build_dir; run ./scripts/setup.sh first" >&2
    exit 2
}

status=0
echo "check.sh: make check in $build_dir"
if ! make -C "$build_dir" -j"$(nproc)" check; then
    status=1
    # Show why: the harness keeps each failed test's output in its .log.
    find "$build_dir/tests" -name '*.log' ! -name test-suite.log -exec grep -l '^FAIL' {} + 2>/dev/null |
        while read -r log; do echo "==== $log"; tail -n 40 "$log"; done
fi

if [ "$integration" = yes ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null 2>&1; then
        echo "check.sh: integration tests skipped (they need root and SLURM to run a cluster)"
    else
        cluster="$top/tests/slurm/cluster.sh"
        "$cluster" up 2
        # shellcheck disable=SC2046
        eval "$("$cluster" env)"
        SLINFER_BUILD="$build_dir" "$top/tests/integration/run.sh" || status=1
        "$cluster" down
    fi
fi
exit $status
