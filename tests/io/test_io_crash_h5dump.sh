#!/bin/sh
# test_io_crash_h5dump.sh - h5dump reads what the SIGKILL test leaves: the
# result file merged right after 20 kills and the repair (repaired.h5), and
# the final one (out.h5), with its OpenAI batch JSONL files beside it.
. "$(dirname "$0")/../cli/testlib.sh"

command -v h5dump >/dev/null 2>&1 || { echo "SKIP: h5dump (hdf5-tools) is not installed"; exit 77; }
bin=${IO_CRASH_TEST:-./unit/check_io_crash}
[ -x "$bin" ] || { echo "SKIP: $bin is not built (needs Check)"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/slinfer-io-crash-XXXXXX")
trap 'rm -rf "$dir"' EXIT

expect_status 0 "the SIGKILL test" -- env SLINFER_IO_CRASH_KEEP="$dir" "$bin"
printf '%s\n' "$out" | grep '^check_io_crash:'

expect_status 0 "h5dump -H of the repaired snapshot" -- h5dump -H "$dir/repaired.h5"
expect_match "$out" 'DATASET "text"' "the snapshot has /results/text"
expect_match "$out" 'H5T_ENUM' "status and finish_reason are enums"
expect_status 0 "h5dump -H of the final file" -- h5dump -H "$dir/out.h5"
expect_match "$out" 'GROUP "steps"' "the final file has /steps"
expect_status 0 "h5dump of /meta" -- h5dump -g /meta "$dir/out.h5"
expect_match "$out" 'ATTRIBUTE "num_records"' "run totals are attributes"
expect_match "$out" '\(0\): 1500' "1500 records"
expect_status 0 "h5dump of the first finish reasons" -- h5dump -d /results/finish_reason -c 3 "$dir/out.h5"
expect_match "$out" 'length, length, length' "enum values print by name"
expect_status 0 "h5dump of the first error codes" -- h5dump -d /errors/code -c 2 "$dir/out.h5"
expect_match "$out" 'invalid_json|invalid_request' "error codes print by name"
expect_status 0 "h5dump of the completion flag" -- h5dump -a /complete "$dir/out.h5"
expect_match "$out" '\(0\): 1' "the final file is marked complete"

# h5py, where a Python with it is installed (Debian: python3-h5py)
py=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import h5py' 2>/dev/null; then py=$p; break; fi
done
if [ -n "$py" ]; then
    expect_status 0 "h5py reads the file" -- "$py" -c '
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    r = f["results"]
    off = r["text_offsets"][:]
    raw = r["text"][:]
    texts = [raw[off[i]:off[i + 1]].tobytes().decode() for i in range(len(off) - 1)]
    ids = [b.tobytes().decode() for b in np.split(r["id"][:], r["id_offsets"][1:-1])]
    k = r["input_index"][:]
    assert sorted(set(k.tolist()) | set(f["errors/input_index"][:].tolist())) == list(range(1500))
    assert all(t == "answer to record %d" % i for t, i in zip(texts, k))
    assert all(s == "r%d" % i for s, i in zip(ids, k))
    assert np.isfinite(r["ttft"][:]).all() and np.isfinite(r["itl_max"][:]).all()
    assert f.attrs["format"] == b"slinfer-results" and f["meta"].attrs["num_records"] == 1500
    print(len(texts), "results read with h5py", h5py.__version__)
' "$dir/out.h5"
    expect_match "$out" '^1425 results read with h5py' "h5py sees every result"
else
    echo "h5py is not installed: the h5py check is skipped"
fi

[ ! -e "$dir/out.h5.parts" ] && pass || fail "a complete merge leaves no parts directory"
[ "$(wc -l < "$dir/out.jsonl")" -eq 1425 ] && pass || fail "out.jsonl: $(wc -l < "$dir/out.jsonl") lines, expected 1425"
[ "$(wc -l < "$dir/out.errors.jsonl")" -eq 75 ] && pass || fail "out.errors.jsonl: expected 75 lines"

finish
