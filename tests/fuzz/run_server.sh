#!/bin/sh
# run_server.sh - build the libFuzzer target for what `slinfer serve` reads
# from the network (request bodies of the OpenAI routes, frames of the DP
# channel) with clang and run it for a bounded time. Independent of
# configure: it compiles the sources it needs with a minimal config.h.
#
#   tests/fuzz/run_server.sh [SECONDS] [EXTRA LIBFUZZER ARGS...]
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
fuzz_setup fuzz-server

# The parser reaches the tokenizer and the chat template only through
# sl_server_prepare (a model without them in the target), but links them.
# shellcheck disable=SC2046
fuzz_compile fuzz_server_request \
    "$here/fuzz_server_request.c" \
    "$top/src/server/parse.c" "$top/src/server/prompt.c" "$top/src/server/respond.c" \
    "$top/src/server/output.c" "$top/src/server/wire.c" \
    "$top/src/engine/params_json.c" "$top/src/engine/request.c" "$top/src/engine/stop.c" \
    "$top/src/engine/sampler.c" \
    "$top/src/io/sampling.c" "$top/src/io/record.c" "$top/src/io/jsonl_writer.c" \
    "$top/src/io/pack.c" \
    "$top/src/core/log.c" "$top/src/core/status.c" "$top/src/core/utf8.c" "$top/src/core/net.c" \
    "$top"/src/tokenizer/*.c "$top"/src/template/*.c \
    $(pkg-config --cflags --libs libpcre2-8 libxxhash 2>/dev/null || echo -lpcre2-8 -lxxhash)

# Seeds: requests of each shape the parser branches on (byte 0: the route),
# and a few frames.
seed() { printf "$1" > "$work/corpus/$2"; printf '%s' "$3" >> "$work/corpus/$2"; }
seed '\000' text '{"model":"fuzz","prompt":"Hello","max_tokens":8,"temperature":0.7,"top_p":0.9,"seed":5,"stop":["\n","END"],"logprobs":2,"n":2}'
seed '\000' ids '{"prompt":[1,2,3],"max_tokens":4,"stream":true,"stream_options":{"include_usage":true},"echo":true}'
seed '\000' nested '{"prompt":[[1,2,3]],"top_k":-1,"min_p":0.1,"repetition_penalty":1.1,"stop_token_ids":[5],"ignore_eos":true,"min_tokens":1}'
seed '\000' bad '{"prompt":"x","max_tokens":0,"logit_bias":{"1":5},"best_of":3}'
seed '\001' chat '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_completion_tokens":16,"logprobs":true,"top_logprobs":3}'
seed '\001' chat2 '{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[],"tool_choice":"auto","response_format":{"type":"text"},"chat_template_kwargs":{"enable_thinking":false},"add_generation_prompt":true,"stream":true}'
seed '\002' delta ''
seed '\003' params ''

fuzz_run run_server.sh fuzz_server_request 8192 "$here/server.dict" "$seconds" "$@"
