#!/bin/sh
# test_run.sh - `slinfer run` across two emulated nodes: 200 records, 5%
# malformed, into one HDF5 file; then the same job killed with SIGKILL at
# random moments 20 times, each followed by --resume, must end with every
# input id exactly once and every timing present.
. "$SLINFER_SRCDIR/tests/cli/testlib.sh"

py=/usr/bin/python3
if ! "$py" -c 'import h5py' 2>/dev/null; then
    echo "SKIP: $py has no h5py (Debian: python3-h5py)"
    exit 77
fi
work=$(mktemp -d /tmp/slinfer-run-XXXXXX)
limit=120

"$SLINFER" make-model --config "$SLINFER_SRCDIR/examples/tiny-model/config.json" \
    --tokenizer "$SLINFER_SRCDIR/examples/tiny-model" --output "$work/model" >/dev/null ||
    { echo "make-model failed"; exit 1; }

# 200 records: every 20th line malformed (10 lines, 5%).
"$py" - "$work/in.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(200):
        if i % 20 == 7:
            f.write(['{"prompt": ', '{"messages": "not a list"}', '{"prompt": "x", "temperature": "hot"}',
                     '{"id": "q-3", "prompt": "duplicate id"}'][i // 20 % 4] + "\n")
        elif i % 3 == 0:
            f.write(json.dumps({"custom_id": f"q-{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"messages": [{"role": "user", "content": f"question {i}"}],
                                         "max_tokens": 12, "temperature": 0}}) + "\n")
        else:
            f.write(json.dumps({"id": f"q-{i}", "prompt": f"prompt number {i}", "max_tokens": 10,
                                "temperature": 0.8, "seed": i}) + "\n")
PY

# check FILE: prints "results R errors E unique U complete C timings T lines L"
check() {
    "$py" - "$1" <<'PY'
import h5py, math, sys
f = h5py.File(sys.argv[1], "r")
r, e = f["results"], f["errors"]
def strings(g, name):
    data, off = g[name][()].tobytes(), g[name + "_offsets"][()]
    return [data[off[i]:off[i + 1]].decode() for i in range(len(off) - 1)]
idx = list(r["input_index"][()]) + list(e["input_index"][()])
ok_times = all(math.isfinite(x) for name in ("arrival_time", "first_token_time", "finish_time", "ttft", "e2e")
               for x in r[name][()])
lines = sorted(int(x) for x in e["line"][()])
print("results", len(r["input_index"]), "errors", len(e["input_index"]), "unique", len(set(idx)),
      "total", len(idx), "complete", int(f.attrs["complete"]), "timings", int(ok_times),
      "lines", ",".join(map(str, lines)), "ids", len(set(strings(r, "id"))),
      "groups", ",".join(map(str, sorted(set(int(g) for g in r["dp_group"][()])))))
PY
}

run_job() { # extra args...
    timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix --kill-on-bad-exit=1 \
        --job-name="sltest-run-$$" "$SLINFER" run --model "$work/model" --input "$work/in.jsonl" \
        --output "$work/out.h5" --commit-interval 0.05 --max-tokens 16 "$@"
}

# --- one clean run ---------------------------------------------------------
expect_status 0 "srun -N 2 slinfer run" -- run_job --output-jsonl "$work/out.jsonl"
summary=$(check "$work/out.h5")
echo "clean run: $summary"
expect_match "$summary" '^results 190 errors 10 unique 200 total 200 complete 1 timings 1 ' \
    "190 results and 10 error records, each record once"
expect_match "$summary" ' lines 8,28,48,68,88,108,128,148,168,188 ' "error records name their lines"
expect_match "$summary" ' ids 190 ' "result ids are unique"
expect_match "$summary" ' groups 0,1$' "both DP groups produced results"
expect_status 0 "h5dump reads the file" -- h5dump -H "$work/out.h5"
expect_match "$(grep -c '' "$work/out.jsonl")" '^190$' "190 OpenAI batch output lines"

# --- 20 kills at random moments, each followed by --resume --------------------
rm -rf "$work/out.h5" "$work/out.h5.parts"
kills=0
for round in $(seq 1 20); do
    run_job --resume >"$work/round.log" 2>&1 &
    pid=$!
    sleep "$("$py" -c "import random; print(round(random.uniform(0.1, 1.2), 2))")"
    if scancel --signal=KILL --name="sltest-run-$$" 2>/dev/null; then kills=$((kills + 1)); fi
    wait $pid
done
expect_status 0 "the last --resume completes" -- run_job --resume
summary=$(check "$work/out.h5")
echo "after $kills kills: $summary"
expect_match "$summary" '^results 190 errors 10 unique 200 total 200 complete 1 timings 1 ' \
    "after 20 kills and resumes: every record exactly once, timings present"

# --- the DP sbatch template, as a user submits it ------------------------------
expect_status 0 "sbatch --wait slurm/run-dp.sbatch" -- env MODEL="$work/model" \
    INPUT="$work/in.jsonl" OUTPUT="$work/sb.h5" SLINFER="$SLINFER" \
    timeout $limit sbatch --wait -N 2 -o "$work/sb.log" "$SLINFER_SRCDIR/slurm/run-dp.sbatch"
summary=$(check "$work/sb.h5")
echo "sbatch: $summary"
expect_match "$summary" '^results 190 errors 10 unique 200 total 200 complete 1 timings 1 .* groups 0,1$' \
    "the sbatch template's output validates"

# --- a signal stops the run cleanly with the resume code ----------------------
rm -rf "$work/out.h5" "$work/out.h5.parts"
"$py" - "$work/big.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(2000):
        f.write(json.dumps({"id": f"long-{i}", "prompt": f"long prompt {i}", "max_tokens": 256,
                            "ignore_eos": True}) + "\n")
PY
timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix --job-name="sltest-sig-$$" \
    "$SLINFER" run --model "$work/model" --input "$work/big.jsonl" --output "$work/sig.h5" \
    >"$work/sig.log" 2>&1 &
pid=$!
sleep 2
scancel --signal=TERM --name="sltest-sig-$$"
wait $pid
rc=$?
echo "SIGTERM: exit $rc"
if [ "$rc" -eq 75 ]; then pass; else fail "SIGTERM: exit $rc, expected 75: $(tail -5 "$work/sig.log")"; fi
expect_match "$(cat "$work/sig.log")" 'interrupted: run again with --resume' "the log says how to finish"
expect_status 0 "--resume after SIGTERM finishes the job" -- \
    timeout $limit srun -N 2 --ntasks-per-node=1 --mpi=pmix "$SLINFER" run --model "$work/model" \
    --input "$work/big.jsonl" --output "$work/sig.h5" --resume

rm -rf "$work"
finish
