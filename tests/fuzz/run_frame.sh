#!/bin/sh
# run_frame.sh - build the libFuzzer target for what a TP group's follower
# reads from its leader (packed batches and step plans) with clang and run it
# for a bounded time. Independent of configure: it compiles the sources it
# needs with a minimal config.h.
#
#   tests/fuzz/run_frame.sh [SECONDS] [EXTRA LIBFUZZER ARGS...]
#
# SECONDS defaults to 60. Exits non-zero when the fuzzer finds a crash, a
# leak, a timeout or undefined behaviour (the reproducer is left in
# $WORK/crash-*). Environment: CC (default clang, else clang-14), WORK
# (default a temporary directory, kept on failure), FUZZ_JOBS.
set -eu

seconds=${1:-60}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

. "$here/fuzzlib.sh"
fuzz_setup fuzz-frame

fuzz_compile fuzz_step_frame \
    "$here/fuzz_step_frame.c" \
    "$top/src/backend/batch.c" "$top/src/backend/batch_pack.c" \
    "$top/src/engine/step_plan.c" \
    "$top/src/core/log.c" "$top/src/core/status.c"

# Seeds (little-endian, as the x86-64 hosts write them): a batch of two
# sequences (a prompt of 3 tokens and a decode token at position 20), and a
# step plan of one sequence without logit rows around a batch.
python3 - "$work/corpus" <<'PY'
import struct, sys
def pad8(b):
    return b + b"\0" * (-len(b) % 8)
def batch(seqs, tables, tokens, logits):
    head = struct.pack("<4i", len(seqs), len(tokens), len(logits), len(tables))
    body = pad8(b"".join(struct.pack("<3i", *q) for q in seqs))
    body += pad8(struct.pack("<%di" % len(tables), *tables))
    body += pad8(struct.pack("<%di" % len(tokens), *tokens))
    body += pad8(struct.pack("<%di" % len(logits), *logits))
    return head + body
two = batch([(3, 0, 1), (1, 20, 2)], [5, 7, 9], [11, 12, 13, 14], [2, 3])
open(sys.argv[1] + "/batch-two", "wb").write(two)
one = batch([(2, 0, 1)], [4], [1, 2], [])
plan = struct.pack("<IIQiiQ", 0x4c50534c, 2, 7, 0, 0, len(one)) + one
open(sys.argv[1] + "/plan-one", "wb").write(plan)
PY

fuzz_run fuzz-frame fuzz_step_frame 4096 "$here/frame.dict" "$seconds" "$@"
