#!/bin/sh
# run.sh - build the libFuzzer target for the safetensors parser with clang
# and run it for a bounded time. Independent of configure: it compiles the
# few sources it needs with a minimal config.h of its own.
#
#   tests/fuzz/run.sh [SECONDS] [EXTRA LIBFUZZER ARGS...]
#
# SECONDS defaults to 60. Exits non-zero when the fuzzer finds a crash, a
# leak or undefined behaviour (the reproducer is left in $WORK/crash-*).
# Environment: CC (default clang, else clang-14), WORK (default a temporary
# directory, kept on failure), FUZZ_JOBS (parallel workers, default 1).
set -eu

seconds=${1:-60}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

. "$here/fuzzlib.sh"
fuzz_setup fuzz-safetensors

fuzz_compile fuzz_safetensors \
    "$here/fuzz_safetensors.c" \
    "$top/src/model/safetensors.c" \
    "$top/src/model/dtype.c" \
    "$top/src/core/log.c" \
    "$top/src/core/status.c"

# Seeds: a valid file, and one of each shape of header the parser branches on.
seed() { # NAME HEADER DATA_BYTES
    len=$(printf '%s' "$2" | wc -c)
    {
        printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((len & 255)) $((len >> 8 & 255)) \
            $((len >> 16 & 255)) $((len >> 24 & 255)))"
        printf '\000\000\000\000'
        printf '%s' "$2"
        head -c "$3" /dev/zero
    } > "$work/corpus/$1"
}
seed valid '{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}' 20
seed f8 '{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}' 4
seed empty '{}' 0
seed overlap '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' 12
seed scalar '{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[0,5],"data_offsets":[8,8]}}' 8

fuzz_run run.sh fuzz_safetensors 4096 "$here/safetensors.dict" "$seconds" "$@"
