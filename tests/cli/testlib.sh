# testlib.sh - sourced by the shell tests: assertions that say what failed.
# Each test script runs its checks, then calls `finish`, which prints
# "N passed, N failed" and exits 0 only when nothing failed.

passed=0
failed=0

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*" >&2; }

# expect_status WANT DESCRIPTION -- CMD...: run CMD, compare its exit status;
# its stdout and stderr are kept in $out and $err.
expect_status() {
    want=$1 what=$2
    shift 3
    out_file=$(mktemp) err_file=$(mktemp)
    "$@" >"$out_file" 2>"$err_file"
    got=$?
    out=$(cat "$out_file") err=$(cat "$err_file")
    rm -f "$out_file" "$err_file"
    if [ "$got" -eq "$want" ]; then pass; else
        fail "$what: exit status $got, expected $want (stderr: $err)"
    fi
}

# expect_match TEXT PATTERN DESCRIPTION: grep -E PATTERN in TEXT.
expect_match() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then pass; else
        fail "$3: no match for /$2/ in: $1"
    fi
}

finish() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [ "$failed" -eq 0 ]
}
