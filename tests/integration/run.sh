#!/bin/sh
# run.sh - run the integration tests (tests/integration/test_*.sh) against a
# running SLURM cluster, e.g. one from tests/slurm/cluster.sh.
#
#   SLINFER_BUILD=build tests/integration/run.sh [TEST...]
#
# Each test gets SLINFER (the binary), SLINFER_BUILD, SLINFER_SRCDIR and the
# caller's SLURM_CONF; its output goes to $SLINFER_BUILD/tests/integration/
# NAME.log and is shown when it fails. Exit 0 passes, 77 skips, anything else
# (or running past SLINFER_TEST_TIMEOUT seconds, default 300) fails.
set -u

here=$(cd "$(dirname "$0")" && pwd)
SLINFER_SRCDIR=$(cd "$here/../.." && pwd)
: "${SLINFER_BUILD:?set SLINFER_BUILD to the build directory}"
SLINFER_BUILD=$(cd "$SLINFER_BUILD" && pwd)
SLINFER="$SLINFER_BUILD/src/slinfer"
export SLINFER SLINFER_BUILD SLINFER_SRCDIR
timeout_s=${SLINFER_TEST_TIMEOUT:-300}
logdir="$SLINFER_BUILD/tests/integration"
mkdir -p "$logdir"

[ -x "$SLINFER" ] || { echo "run.sh: no $SLINFER; build first" >&2; exit 2; }
if ! sinfo -h >/dev/null 2>&1; then
    echo "run.sh: no SLURM cluster answers (SLURM_CONF=${SLURM_CONF:-unset});" \
         "start one with tests/slurm/cluster.sh up 2" >&2
    exit 2
fi

if [ $# -gt 0 ]; then tests="$*"; else tests=$(ls "$here"/test_*.sh); fi
passed=0 failed=0 skipped=0
for t in $tests; do
    case $t in */*) ;; *) t="$here/$t" ;; esac
    name=$(basename "$t" .sh)
    start=$(date +%s)
    timeout -k 10 "$timeout_s" sh "$t" >"$logdir/$name.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
        0) passed=$((passed + 1)); echo "PASS: $name (${secs}s)" ;;
        77) skipped=$((skipped + 1)); echo "SKIP: $name ($(tail -n 1 "$logdir/$name.log"))" ;;
        124 | 137) failed=$((failed + 1)); echo "FAIL: $name (timed out after ${timeout_s}s)"
                   tail -n 40 "$logdir/$name.log" | sed 's/^/    /' ;;
        *) failed=$((failed + 1)); echo "FAIL: $name (exit $rc, ${secs}s)"
           tail -n 40 "$logdir/$name.log" | sed 's/^/    /' ;;
    esac
done
echo "integration: $passed passed, $failed failed, $skipped skipped"
echo "$passed $failed $skipped" >"$logdir/counts"
[ "$failed" -eq 0 ]
