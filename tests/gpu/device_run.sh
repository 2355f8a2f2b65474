#!/bin/sh
# device_run.sh PHASE - everything the CUDA backend needs run on a GPU
# machine, in one go (the lease is short): the GPU tests, then benchmarks,
# with a short table last. Runs from the repository root over a bundle made
# here with scripts/device-bundle.sh .device/cuda ... (fixtures copied into
# .device/cuda/fixtures). Full logs go to $OUT (or /tmp/slinfer-device).
#
#   PHASE = tp1   one GPU: ceilings, kernel tests, forward tests, TP 1 benches
#           tp2   two GPUs: forward tests at TP 2, TP 2 benches, sanitizers
#           all   both (two GPUs); or a list of the functions below, quoted
set -u
phase=${1:-tp1}
root=$PWD/.device/cuda
out=${OUT:-/tmp/slinfer-device}
mkdir -p "$out"
export LD_LIBRARY_PATH=$root/lib:/usr/local/cuda/lib64
export NCCL_NVLS_ENABLE=0
export SLINFER_FIXTURES=$root/fixtures
B=$root/bin
tag=$(echo "$phase" | tr " " "+") # file names without spaces
log=$out/log-$tag.txt
: >"$log"

run() { # NAME TIMEOUT CMD...
    name=$1 limit=$2
    shift 2
    echo "=== $name: $*" >>"$log"
    start=$(date +%s%N)
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    echo "=== $name rc=$rc ${ms} ms" >>"$log"
    printf '%-28s rc=%-3s %8d ms\n' "$name" "$rc" "$ms" >>"$out/summary-$tag.txt"
}
: >"$out/summary-$tag.txt"
nvidia-smi -L >>"$log" 2>&1
M=examples/configs

tests_tp1() {
    run ceilings 60 "$B/slinfer" bench --measure-ceilings
    run test_rmsnorm 60 "$B/test_cuda_rmsnorm"
    run test_kernels 90 "$B/test_cuda_kernels" --bench
    run test_attention 90 "$B/test_cuda_attention" --bench
    # the mma.sync prefill kernel too, where the wgmma one takes head_dim 128
    run test_attention_mma 90 env SLINFER_PREFILL_WGMMA=0 "$B/test_cuda_attention"
    run test_forward 240 "$B/test_cuda_forward" --tp 1
    run test_sampling 300 "$B/test_cuda_sampling" --tp 1 --bench
}
bench_tp1() {
    run bench_8b_bs1 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 1 --input-len 128 --output-len 256 --runs 3
    run bench_8b_bs1_4000 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 1 --input-len 4000 --output-len 128 --runs 2
    # one TP 2 rank's own work (its shapes at TP 1, no all-reduce): what TP 2 can reach
    run bench_8b_tp2_rank_bs1 90 "$B/slinfer" bench --model tests/gpu/configs/llama-3.1-8b-tp2-rank \
        --load-format dummy --batch-size 1 --input-len 128 --output-len 256 --runs 3
    run bench_8b_prefill_32k 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 1 --input-len 32768 --output-len 1 --runs 2
    run bench_8b_bs1_nograph 60 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 1 --input-len 128 --output-len 256 --runs 1 --disable-cuda-graph
    run bench_8b_bs64 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 64 --input-len 128 --output-len 256 --runs 3
    run bench_8b_bs256 120 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 256 --input-len 128 --output-len 256 --runs 2
    run bench_8b_prefill 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 8 --input-len 4096 --output-len 1 --runs 3
    run bench_qwen_bs1 60 "$B/slinfer" bench --model $M/qwen2.5-7b --load-format dummy \
        --batch-size 1 --input-len 128 --output-len 256 --runs 2
    run bench_8b_bs64_hostlogits 60 "$B/slinfer" bench --model $M/llama-3.1-8b \
        --load-format dummy --batch-size 64 --input-len 128 --output-len 256 --runs 1 \
        --logits-on-host
    run bench_8b_engine 120 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --num-prompts 512 --input-len 512 --output-len 256 --batch-size 256
    run bench_8b_sampled 150 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --num-prompts 512 --input-len 512 --output-len 256 --batch-size 256 \
        --temperature 0.8 --top-p 0.95
    run bench_8b_1000 150 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 256 --input-len 1000 --output-len 1000 --runs 1 --warmup-runs 0
}
tests_loopback() { # TP > 1's all-reduce path on one GPU
    run test_forward_loopback 240 env SLINFER_AR_LOOPBACK=1 "$B/test_cuda_forward" --tp 1
    run test_forward_loopback_ar_kernels 240 env SLINFER_AR_LOOPBACK=1 SLINFER_AR_IN_GEMV=0 \
        "$B/test_cuda_forward" --tp 1
    run test_ar_gemv 200 "$B/test_cuda_ar_gemv" --bench
}
tests_tp2() {
    run test_forward_tp2 240 "$B/test_cuda_forward" --tp 2
    run test_forward_tp2_push 240 env SLINFER_AR_IN_GEMV=0 SLINFER_AR_PUSH=1 \
        "$B/test_cuda_forward" --tp 2
    run test_forward_tp2_ar_kernels 240 env SLINFER_AR_IN_GEMV=0 "$B/test_cuda_forward" --tp 2
    run test_ar_gemv 200 "$B/test_cuda_ar_gemv" --bench
    run test_sampling_tp2 240 "$B/test_cuda_sampling" --tp 2
    run test_allreduce 300 "$B/test_cuda_allreduce" --bench
    run test_tp_span 420 env B="$B" sh tests/gpu/test_tp_span.sh
}
bench_tp2() {
    # the speed-up's denominator, in the same lease
    run bench_8b_tp1_bs1 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --batch-size 1 --input-len 128 --output-len 256 --runs 3
    run bench_8b_tp2_bs1 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --tp 2 --batch-size 1 --input-len 128 --output-len 256 --runs 3
    # the balanced GEMV residency (on at TP > 1) measured off
    run bench_8b_tp2_bs1_unbalanced 90 env SLINFER_GEMV_BALANCE=0 "$B/slinfer" bench --model \
        $M/llama-3.1-8b --load-format dummy --tp 2 --batch-size 1 --input-len 128 \
        --output-len 256 --runs 3
    run bench_8b_tp2_bs1_push 90 env SLINFER_AR_IN_GEMV=0 SLINFER_AR_PUSH=1 "$B/slinfer" bench \
        --model $M/llama-3.1-8b --load-format dummy --tp 2 --batch-size 1 --input-len 128 \
        --output-len 256 --runs 3
    run bench_8b_tp2_bs1_ar_kernels 90 env SLINFER_AR_IN_GEMV=0 "$B/slinfer" bench --model \
        $M/llama-3.1-8b --load-format dummy --tp 2 --batch-size 1 --input-len 128 \
        --output-len 256 --runs 3
    run bench_8b_tp2_bs1_nccl 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --tp 2 --batch-size 1 --input-len 128 --output-len 256 --runs 3 --disable-custom-all-reduce
    run bench_8b_tp2_bs64 90 "$B/slinfer" bench --model $M/llama-3.1-8b --load-format dummy \
        --tp 2 --batch-size 64 --input-len 128 --output-len 256 --runs 2
}
sanitizers() {
    run memcheck_kernels 120 compute-sanitizer --tool memcheck "$B/test_cuda_kernels"
    run racecheck_attention 300 compute-sanitizer --tool racecheck "$B/test_cuda_attention" \
        --quick
    run memcheck_sampling 300 compute-sanitizer --tool memcheck "$B/test_cuda_sampling" --quick
    run racecheck_sampling 300 compute-sanitizer --tool racecheck "$B/test_cuda_sampling" --quick
    # Two GPUs writing each other's memory; racecheck (shared memory only) has nothing to
    # check there. NCCL probes its kernels for other architectures with
    # cudaFuncGetAttributes: those API errors are not ours, hence --report-api-errors no.
    run memcheck_allreduce 240 compute-sanitizer --tool memcheck --report-api-errors no \
        "$B/test_cuda_allreduce" --quick
}

case $phase in
tp1) tests_tp1; tests_loopback; bench_tp1 ;;
tp2) tests_tp2; bench_tp2; sanitizers ;;
all) tests_tp1; tests_loopback; tests_tp2; bench_tp1; bench_tp2; sanitizers ;;
*) for f in $phase; do $f; done ;;
esac

echo "---- $phase summary"
cat "$out/summary-$tag.txt"
grep -h "^FAIL\|^  two processes\|^  one process\|passed,\|worst logits\|RESULT\|^bench \|SKIP\|ERROR SUMMARY\|RACECHECK SUMMARY" "$log" | cut -c1-230
