#!/bin/sh
# test_cli.sh - what the slinfer binary prints and returns for --help,
# --version, help, and bad command lines. $SLINFER is set by `make check`.
. "$(dirname "$0")/testlib.sh"

: "${SLINFER:?set SLINFER to the slinfer binary}"

expect_status 0 "--help" -- "$SLINFER" --help
expect_match "$out" '^Usage: slinfer ' "--help usage line"
expect_match "$out" '^  version +print version' "--help lists version"
expect_match "$out" '^  help +show the help' "--help lists help"
expect_match "$out" 'Exit status: 0 success, 1 failure, 2 usage error' "--help exit statuses"

expect_status 0 "--version" -- "$SLINFER" --version
expect_match "$out" '^slinfer [0-9]+\.[0-9]+\.[0-9]+ \(git [^)]+\)$' "--version first line"
expect_match "$out" '^configured with: ' "--version configure arguments"
expect_match "$out" '^  PMIx +.*[0-9]+\.[0-9]+' "--version PMIx"
expect_match "$out" '^  HDF5 +1\.[0-9]+' "--version HDF5"
expect_match "$out" '^  hwloc +2\.' "--version hwloc"
expect_match "$out" '^CUDA: ' "--version CUDA line"
version_out=$out

expect_status 0 "version" -- "$SLINFER" version
[ "$out" = "$version_out" ] && pass || fail "'version' differs from '--version'"

expect_status 0 "help version" -- "$SLINFER" help version
expect_match "$out" '^Usage: slinfer version' "help version"
expect_status 0 "version --help" -- "$SLINFER" version --help
expect_match "$out" '^Usage: slinfer version' "version --help"

expect_status 2 "no command" -- "$SLINFER"
expect_match "$err" '^Usage: slinfer' "no command prints usage on stderr"
expect_status 2 "unknown command" -- "$SLINFER" frobnicate
expect_match "$err" "'frobnicate' is not a slinfer command" "unknown command message"
expect_status 2 "unknown option" -- "$SLINFER" --frobnicate
expect_match "$err" "unknown option '--frobnicate'" "unknown option message"
expect_status 2 "help unknown" -- "$SLINFER" help frobnicate
expect_match "$err" "no command 'frobnicate'" "help unknown message"
expect_status 2 "bad log level" -- "$SLINFER" --log-level=loud version
expect_match "$err" "--log-level 'loud'" "bad log level message"
expect_status 2 "version extra" -- "$SLINFER" version extra
expect_match "$err" "Run 'slinfer help version' for usage" "usage hint names the command"

SLINFER_LOG_LEVEL=nonsense expect_status 0 "bad SLINFER_LOG_LEVEL" -- "$SLINFER" version
expect_match "$err" "SLINFER_LOG_LEVEL='nonsense'" "bad SLINFER_LOG_LEVEL warns"

finish
