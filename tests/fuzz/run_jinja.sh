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

. "$here/fuzzlib.sh"
fuzz_setup fuzz-jinja

fuzz_compile fuzz_jinja \
    "$here/fuzz_jinja.c" \
    "$top"/src/template/jinja_*.c \
    "$top/src/core/status.c" "$top/src/core/utf8.c"

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

fuzz_run run_jinja.sh fuzz_jinja 8192 "$here/jinja.dict" "$seconds" "$@"
