#!/bin/sh
# test_tokenize_cli.sh - `slinfer tokenize` on the small tokenizers of
# tests/data/tokenizers (ids explained in tests/unit/check_tokenizer.c).
. "$(dirname "$0")/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"
data=$(cd "$(dirname "$0")/../data/tokenizers" && pwd)
bl=$data/tiny-bytelevel
spm=$data/tiny-spm

# run_in INPUT CMD...: expect_status 0 with INPUT on standard input.
run_in() {
    input=$1
    shift
    printf '%s' "$input" > "$tmp_in"
    expect_status 0 "$*" -- "$@" < "$tmp_in"
}
tmp_in=$(mktemp)
trap 'rm -f "$tmp_in"' EXIT

run_in 'hello world' "$SLINFER" tokenize --tokenizer "$bl"
[ "$out" = "[270, 257, 259, 111, 267]" ] && pass || fail "encode: got '$out'"
run_in 'hello world' "$SLINFER" tokenize --tokenizer="$bl" --no-special
[ "$out" = "[257, 259, 111, 267]" ] && pass || fail "encode --no-special: got '$out'"
run_in 'hi ab' "$SLINFER" tokenize --model "$spm"
[ "$out" = "[1, 269, 265]" ] && pass || fail "--model as the tokenizer: got '$out'"
run_in '' "$SLINFER" tokenize --tokenizer "$spm"
[ "$out" = "[1]" ] && pass || fail "empty input: got '$out'"

run_in '"hello world"
{"text": " the<|end|>"}
""
' "$SLINFER" tokenize --tokenizer "$bl" --jsonl --no-special
want='[257, 259, 111, 267]
[258, 268]
[]'
[ "$out" = "$want" ] && pass || fail "--jsonl: got '$out'"

run_in '[257, 259, 111, 267]' "$SLINFER" tokenize --tokenizer "$bl" --decode
[ "$out" = "hello world" ] && pass || fail "--decode: got '$out'"
run_in '[1, 265]' "$SLINFER" tokenize --tokenizer "$spm" --decode
[ "$out" = "<s> ab" ] && pass || fail "--decode keeps special tokens: got '$out'"
run_in '[1, 265]' "$SLINFER" tokenize --tokenizer "$spm" --decode --no-special
[ "$out" = "ab" ] && pass || fail "--decode --no-special: got '$out'"
run_in '[257, 10, 258]
{"ids": [230, 151, 165]}
' "$SLINFER" tokenize --tokenizer "$bl" --decode --jsonl
want='"he\n the"
"日"'
[ "$out" = "$want" ] && pass || fail "--decode --jsonl: got '$out'"

# Round trip of a multi-line text through both directions.
text='Grüße, 日本!
  indented	tab'
printf '%s' "$text" > "$tmp_in"
ids=$("$SLINFER" tokenize --tokenizer "$bl" --no-special < "$tmp_in")
back=$(printf '%s' "$ids" | "$SLINFER" tokenize --tokenizer "$bl" --decode)
[ "$back" = "$text" ] && pass || fail "round trip: got '$back'"

expect_status 2 "no tokenizer" -- "$SLINFER" tokenize
expect_match "$err" "--tokenizer DIR" "no tokenizer message"
expect_status 2 "unknown flag" -- "$SLINFER" tokenize --tokenizer "$bl" --frob
expect_match "$err" "unknown argument '--frob'" "unknown flag message"
expect_status 1 "missing tokenizer.json" -- "$SLINFER" tokenize --tokenizer "$data"
expect_match "$err" "tokenizer.json" "missing file named"
printf 'not json\n' > "$tmp_in"
expect_status 1 "bad --jsonl line" -- "$SLINFER" tokenize --tokenizer "$bl" --jsonl < "$tmp_in"
expect_match "$err" "line 1" "bad line named"
printf '\377\n' > "$tmp_in"
expect_status 1 "invalid UTF-8" -- "$SLINFER" tokenize --tokenizer "$bl" < "$tmp_in"
expect_match "$err" "not valid UTF-8" "invalid UTF-8 message"

expect_status 0 "help tokenize" -- "$SLINFER" help tokenize
expect_match "$out" '^Usage: slinfer tokenize --tokenizer DIR' "help tokenize"
expect_status 0 "--help" -- "$SLINFER" --help
expect_match "$out" '^  tokenize +turn text into token ids' "--help lists tokenize"

finish
