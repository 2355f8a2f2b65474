#!/bin/sh
# test_model_cli.sh - `slinfer inspect` and `slinfer logits`: usage errors,
# random (dummy) weights from a config.json written here, and, when the
# shared fixtures are present, the real tiny models. $SLINFER and
# $SLINFER_FIXTURES are set by `make check`.
. "$(dirname "$0")/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/slinfer-cli-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

expect_status 0 "help lists inspect" -- "$SLINFER" --help
expect_match "$out" '^  inspect +show a model' "--help lists inspect"
expect_match "$out" '^  logits +compute a model' "--help lists logits"
expect_status 0 "help logits" -- "$SLINFER" help logits
expect_match "$out" '^Usage: slinfer logits --model DIR --ids' "logits usage"

expect_status 2 "inspect without --model" -- "$SLINFER" inspect
expect_match "$err" "--model DIR is required" "inspect names the missing flag"
expect_status 2 "inspect bad --tp" -- "$SLINFER" inspect --model "$tmp" --tp zero
expect_match "$err" "--tp needs a number" "inspect --tp message"
expect_status 2 "logits without --ids" -- "$SLINFER" logits --model "$tmp" --output "$tmp/x"
expect_match "$err" "--model, --ids and --output are required" "logits required flags"
expect_status 2 "logits bad ids" -- "$SLINFER" logits --model "$tmp" --ids 1,,2 --output x
expect_match "$err" "expected comma-separated token ids" "logits --ids message"
expect_status 2 "logits bad load format" -- "$SLINFER" logits --model "$tmp" --ids 1 \
    --output x --load-format pickle
expect_match "$err" "--load-format: auto, safetensors or dummy" "load format message"

# A folder with config.json alone: loading weights fails, dummy works.
mkdir "$tmp/m"
cat > "$tmp/m/config.json" <<'JSON'
{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "vocab_size": 300, "max_position_embeddings": 128, "tie_word_embeddings": true,
 "rope_theta": 1000000.0, "dtype": "bfloat16"}
JSON
expect_status 1 "inspect without weights" -- "$SLINFER" inspect --model "$tmp/m"
expect_match "$err" "no model.safetensors or model.safetensors.index.json" "no weights message"
expect_status 0 "inspect dummy" -- "$SLINFER" inspect --model-path "$tmp/m" --tp 2 \
    --load-format dummy
expect_match "$out" '^architecture: +Qwen2ForCausalLM' "inspect architecture"
expect_match "$out" '^parameters: +' "inspect parameters"
expect_match "$out" '^  rank 1 ' "inspect bytes of rank 1"
expect_match "$out" '^KV cache per token: 128 bytes per rank, 256 in all \(BF16\)' \
    "inspect KV bytes: 2 x 2 layers x 1 KV head x 16 x 2 bytes per rank"
expect_status 0 "inspect --json" -- "$SLINFER" inspect --model "$tmp/m" --load-format dummy \
    --json
expect_match "$out" '"vocab_size": 300' "inspect --json vocab"
expect_status 1 "inspect tp 3" -- "$SLINFER" inspect --model "$tmp/m" --tp 3 \
    --load-format dummy
expect_match "$err" "--tp 3 does not divide num_attention_heads 4" "tp 3 message"

# logits: [1, 300] float32 = 1200 bytes after the header; [3, 300] with --all
expect_status 0 "logits dummy" -- "$SLINFER" logits --model "$tmp/m" --load-format dummy \
    --ids 1,2,3 --output "$tmp/last.safetensors"
expect_match "$out" 'logits \[1, 300\] of 3 tokens written' "logits summary line"
expect_status 0 "logits dummy --all --tp 2" -- "$SLINFER" logits --model "$tmp/m" \
    --load-format dummy --ids 1,2,3 --all --tp 2 --threads 2 --output "$tmp/all.safetensors"
expect_match "$out" 'logits \[3, 300\]' "logits --all shape"
size_last=$(wc -c < "$tmp/last.safetensors")
size_all=$(wc -c < "$tmp/all.safetensors")
[ $((size_all - size_last)) -eq 2400 ] && pass || \
    fail "logits files differ by $((size_all - size_last)) bytes, expected 2 x 1200"
expect_status 2 "logits id beyond the vocabulary" -- "$SLINFER" logits --model "$tmp/m" \
    --load-format dummy --ids 1,300 --output "$tmp/x.safetensors"
expect_match "$err" "token id 300 is outside the vocabulary of 300" "vocab message"

# With the fixtures: the real models load, and logits match their goldens
# (compared byte-exactly by tests/unit/check_model_golden; here only the CLI).
models=${SLINFER_FIXTURES:-}/models
if [ -f "$models/tiny-llama3/config.json" ]; then
    expect_status 0 "inspect tiny-llama3" -- "$SLINFER" inspect --model "$models/tiny-llama3" \
        --tp 4
    expect_match "$out" '^parameters: +939136 ' "tiny-llama3 parameters (as its index says)"
    expect_match "$out" 'llama3, theta 500000, factor 8' "tiny-llama3 rope"
    expect_status 0 "logits tiny-qwen3" -- "$SLINFER" logits --model "$models/tiny-qwen3" \
        --ids 1,2,3,4 --all --tp 2 --output "$tmp/q3.safetensors"
    expect_match "$out" 'logits \[4, 1503\]' "tiny-qwen3 logits shape"
else
    echo "skipping the fixture checks: no $models/tiny-llama3"
fi

finish
