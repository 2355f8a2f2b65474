#!/bin/sh
# test_generate_cli.sh - `slinfer generate`: usage errors, a model with
# dummy weights and no tokenizer (--ids, JSON, -n, logprobs, a KV budget too
# small), and, with the shared fixtures, the tiny models' greedy goldens
# through the CLI and text with stop strings. $SLINFER and $SLINFER_FIXTURES
# are set by `make check`.
. "$(dirname "$0")/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slinfer-gen-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

expect_status 0 "help lists generate" -- "$SLINFER" --help
expect_match "$out" '^  generate +generate text' "--help lists generate"
expect_status 0 "help generate" -- "$SLINFER" help generate
expect_match "$out" '^Usage: slinfer generate --model DIR \(--prompt TEXT \| --ids' "usage"
expect_match "$out" '--disable-radix-cache' "usage names the SGLang alias"

expect_status 2 "no prompt" -- "$SLINFER" generate --model "$tmp"
expect_match "$err" "--model and one of --prompt or --ids are required" "required flags"
expect_status 2 "both prompts" -- "$SLINFER" generate --model "$tmp" --ids 1 --prompt x
expect_status 2 "bad ids" -- "$SLINFER" generate --model "$tmp" --ids 1,,2
expect_match "$err" "expected comma-separated token ids" "ids message"
expect_status 2 "bad temperature" -- "$SLINFER" generate --model "$tmp" --ids 1 \
    --temperature warm
expect_match "$err" "--temperature needs a number" "temperature message"
expect_status 2 "bad logprobs" -- "$SLINFER" generate --model "$tmp" --ids 1 --logprobs 21
expect_match "$err" "--logprobs needs a whole number from 0 to 20" "logprobs range"
expect_status 2 "bad memory" -- "$SLINFER" generate --model "$tmp" --ids 1 \
    --kv-cache-memory lots
expect_match "$err" "--kv-cache-memory needs a size in bytes" "memory message"
expect_status 2 "unknown flag" -- "$SLINFER" generate --model "$tmp" --ids 1 --frobnicate
expect_match "$err" "unknown argument '--frobnicate'" "unknown flag message"

# A dummy-weight model without tokenizer: ids in, ids out.
mkdir "$tmp/m"
cat > "$tmp/m/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 300, "max_position_embeddings": 256, "rope_theta": 10000.0,
 "dtype": "bfloat16"}
JSON
gen() { "$SLINFER" generate --model "$tmp/m" --load-format dummy --threads 2 "$@"; }
expect_status 0 "dummy greedy" -- gen --ids 1,2,3,4,5 --temperature 0 --max-tokens 8 --json
expect_match "$out" '^\{"output_ids": \[[0-9]+(, [0-9]+){7}\], "text": null, "finish_reason": "length"\}$' \
    "json shape"
greedy=$out
expect_status 0 "same with other engine settings" -- gen --ids 1,2,3,4,5 --temperature 0 \
    --max-tokens 8 --json --page-size 2 --chunked-prefill-size 2 --disable-radix-cache --tp 2
[ "$out" = "$greedy" ] && pass || fail "page size / chunking / TP changed greedy: $out vs $greedy"
expect_status 0 "plain output is the ids" -- gen --ids 1,2,3,4,5 --temperature 0 --max-tokens 8
expect_match "$greedy" "\"output_ids\": \\[$(printf '%s' "$out" | sed 's/,/, /g')\\]" \
    "plain ids equal the JSON ones"
expect_status 0 "seeded sampling" -- gen --ids 7,8,9 --seed 5 --max-tokens 6 --top-k 20 \
    --top-p 0.9 --min-p 0.01 --repetition-penalty 1.2 --presence-penalty 0.5 \
    --frequency-penalty 0.5 --json
sampled=$out
expect_status 0 "seeded again" -- gen --ids 7,8,9 --seed 5 --max-tokens 6 --top-k 20 \
    --top-p 0.9 --min-p 0.01 --repetition-penalty 1.2 --presence-penalty 0.5 \
    --frequency-penalty 0.5 --json
[ "$out" = "$sampled" ] && pass || fail "seeded sampling not reproducible: $out vs $sampled"
expect_status 0 "n and logprobs and usage" -- gen --ids 7,8,9 --seed 5 --max-tokens 4 -n 3 \
    --logprobs 2 --json --usage
expect_match "$out" '^\{"choices": \[\{"output_ids": ' "choices"
expect_match "$out" '"index": 2\}\]' "three choices"
expect_match "$out" '"top_logprobs": \[\{"token": [0-9]+, "logprob": -?[0-9.e-]+\}, \{' "top 2"
expect_match "$out" '"usage": \{"prompt_tokens": 3, "completion_tokens": 12, "cached_tokens": 0\}' \
    "usage"
expect_match "$out" '"timing": \{"queue_s": ' "timing"
expect_status 0 "stop token id" -- gen --ids 1,2,3,4,5 --temperature 0 --max-tokens 8 --json \
    --stop-token-id "$(printf '%s' "$greedy" | sed 's/^[^[]*\[\([0-9]*\), \([0-9]*\),.*/\2/')"
expect_match "$out" '"finish_reason": "stop"' "stopped by a stop id"
# 2 layers x 2 KV heads x 16 x K and V x 4 bytes = 512 bytes a token: 64K is 8 blocks
expect_status 1 "KV cache too small" -- gen --ids 1,2,3,4,5 --max-tokens 200 \
    --kv-cache-memory 64K
expect_match "$err" "request 0 cannot run: it needs 13 KV blocks \(5 prompt \+ 200 new tokens, 16 per block\) but the whole cache has 8" \
    "cannot fit message"
expect_status 1 "prompt needs a tokenizer" -- gen --prompt hello
expect_match "$err" "has no tokenizer.json: give the prompt as --ids" "tokenizer message"
expect_status 2 "token outside the vocabulary" -- gen --ids 1,300
expect_match "$err" "prompt token 1 is 300, outside the vocabulary of 300" "vocab message"

models=${SLINFER_FIXTURES:-}/models
if [ -f "$models/tiny-llama3/golden.json" ]; then
    # Prompt 0 of each golden, greedy, through the CLI: the first 12 golden tokens
    # (all their margins are above 1e-3; check_engine_golden compares every step).
    for m in tiny-llama3 tiny-llama2 tiny-qwen2 tiny-qwen3; do
        ids=$(python3 -c "import json,sys; g=json.load(open(sys.argv[1])); print(','.join(map(str,g['prompts'][0])))" \
            "$models/$m/golden.json" 2>/dev/null) || { pass; continue; }
        golden=$(python3 -c "import json,sys; g=json.load(open(sys.argv[1])); print(', '.join(map(str,g['greedy'][0][:12])))" \
            "$models/$m/golden.json")
        expect_status 0 "$m greedy" -- "$SLINFER" generate --model "$models/$m" --ids "$ids" \
            --temperature 0 --max-tokens 12 --ignore-eos --json --threads 2
        expect_match "$out" "^\\{\"output_ids\": \\[$golden\\]" "$m golden tokens"
    done
    # Text: a prompt through the tokenizer, then a stop string cut from the text.
    expect_status 0 "text prompt" -- "$SLINFER" generate --model "$models/tiny-qwen2" \
        --prompt "Hello world" --temperature 0 --max-tokens 16 --ignore-eos --threads 2
    text=$out
    [ -n "$text" ] && pass || fail "no text generated"
    expect_status 0 "text prompt json" -- "$SLINFER" generate --model "$models/tiny-qwen2" \
        --prompt "Hello world" --temperature 0 --max-tokens 16 --ignore-eos --json --threads 2
    expect_match "$out" '"text": "' "json text"
    # (expect_status uses $want: the expected text is $before)
    stop=$(printf '%s' "$text" | head -c 3 | tail -c 2)
    if [ -n "$stop" ]; then
        before=${text%%"$stop"*}
        expect_status 0 "stop string" -- "$SLINFER" generate --model "$models/tiny-qwen2" \
            --prompt "Hello world" --temperature 0 --max-tokens 16 --ignore-eos --stop "$stop" \
            --threads 2
        [ "$out" = "$before" ] && pass || fail "stop string '$stop': got '$out', want '$before'"
        expect_status 0 "stop string json" -- "$SLINFER" generate --model "$models/tiny-qwen2" \
            --prompt "Hello world" --temperature 0 --max-tokens 16 --ignore-eos --stop "$stop" \
            --json --threads 2
        expect_match "$out" '"finish_reason": "stop"' "stopped by the stop string"
    fi
else
    echo "SKIP (fixtures): no $models/tiny-llama3/golden.json"
fi

finish
