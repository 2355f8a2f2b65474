# shellcheck shell=sh disable=SC2154
# fuzzlib.sh - sourced by the fuzz scripts (run.sh, run_jinja.sh, ...):
# what every libFuzzer target needs around its own sources and seeds. The
# caller sets $here (tests/fuzz) and $top (the source tree).
#
#   fuzz_setup NAME          sets $cc (clang), $work (WORK or a new temporary
#                            directory with corpus/ and include/config.h),
#                            $jansson_cflags, $jansson_libs, $here, $top
#   fuzz_compile OUT SRC...  clang with fuzzer + ASan + UBSan into $work/OUT
#   fuzz_run NAME BINARY MAX_LEN DICT SECONDS [ARGS...]
#                            runs it on $work/corpus for SECONDS; exits non-zero
#                            (keeping $work) on a crash, leak, timeout or UB
# Environment: CC, WORK (kept), FUZZ_JOBS (parallel workers, default 1).

fuzz_setup() {
    fuzz_name=$1
    cc=${CC:-}
    if [ -z "$cc" ]; then
        for c in clang clang-14; do
            if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
        done
    fi
    [ -n "$cc" ] || { echo "$fuzz_name: clang not found (set CC)" >&2; exit 2; }
    work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/slinfer-$fuzz_name-XXXXXX")}
    mkdir -p "$work/corpus" "$work/include"
    # The one thing sources take from configure's config.h.
    printf '#define _GNU_SOURCE 1\n' > "$work/include/config.h"
    jansson_cflags=$(pkg-config --cflags jansson 2>/dev/null || true)
    jansson_libs=$(pkg-config --libs jansson 2>/dev/null || echo -ljansson)
}

fuzz_compile() {
    out=$1
    shift
    # shellcheck disable=SC2086
    "$cc" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$work/include" -I"$top/src" $jansson_cflags "$@" $jansson_libs -lm -pthread \
        -o "$work/$out"
}

fuzz_run() {
    name=$1 binary=$2 max_len=$3 dict=$4 seconds=$5
    shift 5
    cd "$work" || exit 2
    status=0
    jobs=
    [ -n "${FUZZ_JOBS:-}" ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
    # shellcheck disable=SC2086
    "./$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -dict="$dict" -print_final_stats=1 $jobs "$@" corpus || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$name: the fuzzer failed (status $status); inputs and logs are in $work" >&2
        exit "$status"
    fi
    [ -n "${WORK:-}" ] || rm -rf "$work"
    echo "$name: no crash in $seconds s"
}
