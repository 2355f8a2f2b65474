#!/bin/sh
# run_jinja.sh - build the libFuzzer target for the Jinja chat-template
# interpreter with clang and run it for a bounded time. Independent of
# configure: it compiles the interpreter's sources with a minimal config.h.
#
#   tests/fuzz/run_jinja.sh [SECONDS] [EXTRA LIBFUZZER ARGS...]
#
# SECONDS defaults to 60. Seeds are the chat templates of
# tests/data/templates. Exits non-zero when the fuzzer finds a crash, a leak,
# a timeout or undefined behaviour (the reproducer is left in $WORK/crash-*).
# Environment: CC (default clang, else clang-14), WORK (default a temporary
# directory, kept on failure), FUZZ_JOBS (parallel workers, default 1).
set -eu

seconds=${1:-60}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

cc=${CC:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
    done
fi
[ -n "$cc" ] || { echo "run_jinja.sh: clang not found (set CC)" >&2; exit 2; }

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/slinfer-fuzz-jinja-XXXXXX")}
mkdir -p "$work/corpus" "$work/include"

# The one thing sources take from configure's config.h.
printf '#define _GNU_SOURCE 1\n' > "$work/include/config.h"

jansson_cflags=$(pkg-config --cflags jansson 2>/dev/null || true)
jansson_libs=$(pkg-config --libs jansson 2>/dev/null || echo -ljansson)

# shellcheck disable=SC2086
"$cc" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$work/include" -I"$top/src" $jansson_cflags \
    "$here/fuzz_jinja.c" "$top"/src/template/jinja_*.c "$top/src/core/status.c" \
    $jansson_libs -lm -pthread -o "$work/fuzz_jinja"

# Seeds: every template of the goldens (chat_template.jinja files and the
# chat_template strings of tokenizer_config.json files), and a few small
# ones for the corners.
n=0
for f in "$top"/tests/data/templates/models/*/chat_template.jinja; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    cp "$f" "$work/corpus/model$n"
done
if command -v python3 >/dev/null 2>&1; then
    python3 - "$top" "$work/corpus" <<'PY'
import glob, json, os, sys
top, out = sys.argv[1], sys.argv[2]
for i, path in enumerate(sorted(glob.glob(top + "/tests/data/templates/models/*/tokenizer_config.json"))):
    ct = json.load(open(path, encoding="utf-8")).get("chat_template")
    for j, t in enumerate([ct] if isinstance(ct, str) else [e.get("template", "") for e in ct or []]):
        with open(os.path.join(out, "config%d_%d" % (i, j)), "w", encoding="utf-8") as f:
            f.write(t)
PY
fi
seed() { printf '%s' "$2" > "$work/corpus/$1"; }
seed loop '{% for m in messages if m.role != "system" %}{{ loop.index }}{{ m.content|trim }}{% else %}-{% endfor %}'
seed macro '{% macro f(x, y=2) %}{{ x ~ y }}{{ caller() if caller is defined }}{% endmacro %}{% call f(1) %}c{% endcall %}'
seed ns '{% set ns = namespace(a=[]) %}{% for i in range(3) %}{% set ns.a = ns.a + [i] %}{% endfor %}{{ ns.a|tojson }}'
seed ws "  {%- if true -%}\n  x\n  {% endif +%}\n{#- c -#}{% raw %}{{ y }}{% endraw %}"
seed expr "{{ (1 + 2) * 3 // 2 ** 2 % 5 }}{{ 'a'[::-1] }}{{ tools[0].function.name|upper }}{{ '%s=%d' % ('a', 1) }}"

cd "$work"
status=0
jobs=
[ -n "${FUZZ_JOBS:-}" ] && jobs="-jobs=$FUZZ_JOBS -workers=$FUZZ_JOBS"
# shellcheck disable=SC2086
./fuzz_jinja -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$here/jinja.dict" -print_final_stats=1 $jobs "$@" corpus || status=$?
if [ "$status" -ne 0 ]; then
    echo "run_jinja.sh: the fuzzer failed (status $status); inputs and logs are in $work" >&2
    exit "$status"
fi
[ -n "${WORK:-}" ] || rm -rf "$work"
echo "run_jinja.sh: no crash in $seconds s"
