/*
 * bench.h - `slinfer bench`: offline throughput and latency of a model shape
 * on a backend, reported against the hardware's measured ceilings.
 *
 * Two modes:
 *   static batch   batch_size sequences of input_len random tokens, prefilled
 *                  (chunked to max_tokens per step), then output_len - 1
 *                  decode steps of the whole batch (EOS ignored), driven
 *                  directly on the backend; run `runs` times after a
 *                  warm-up run, medians reported.
 *   num_prompts    num_prompts requests of random lengths through the engine
 *                  (continuous batching), EOS ignored.
 *
 * Tokens are greedy unless a temperature is given; then every token is drawn
 * with temperature, top_p and top_k, on the GPU (forward_sample) or, with
 * logits_on_host or on the CPU backend, by the host sampler.
 *
 * Figures: output and total tokens/s, TTFT and TPOT p50/p99 over requests,
 * prefill tokens/s, model FLOP utilisation (FLOPs of the linear layers,
 * attention and LM head over time, against the bf16 GEMM rate), and for the
 * decode phase the HBM bandwidth utilisation (weights + KV read per step
 * against the device-to-device copy rate). Ceilings: measured in the same
 * run (measure_ceilings, CUDA only) or given.
 */
#ifndef SL_BENCH_BENCH_H
#define SL_BENCH_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "model/model.h"

typedef struct sl_bench_options {
    const char *model_dir;
    sl_load_format_t load_format;
    uint64_t seed;
    int tp;
    const char *backend;      /* "cuda" (default with CUDA) or "cpu" */
    int threads;              /* CPU backend */
    /* static batch */
    int batch_size, input_len, output_len;
    /* engine mode */
    int num_prompts;
    double random_range_ratio; /* lengths uniform in [ratio * len, len] */
    int runs;                 /* timed runs (static batch)                     */
    int warmup_runs;          /* untimed runs first (graphs captured), 1       */
    /* backend */
    double mem_fraction_static;
    int cuda_graph_max_bs;
    int disable_cuda_graph;
    int disable_custom_all_reduce; /* NCCL for every all-reduce */
    int max_tokens;           /* tokens per step (--max-prefill-tokens) */
    int block_size;
    int logits_on_host;       /* sample from float32 logits copied to the host */
    /* sampling of every output token (temperature 0: greedy) */
    double temperature, top_p;
    int top_k;
    /* ceilings */
    int measure_ceilings;
    double peak_tflops;       /* per GPU; 0: measured or 730 */
    double peak_gbs;          /* per GPU copy bandwidth; 0: measured or 4100 */
    /* a job (--bootstrap): one TP group over its processes, the leader (TP
     * rank 0) reports, the others follow; NULL: this process alone */
    const struct sl_job *job;
} sl_bench_options_t;

void sl_bench_options_init(sl_bench_options_t *options);

/* Runs the benchmark, printing its report to OUT. */
sl_status_t sl_bench_run(const sl_bench_options_t *options, FILE *out);

/* Measured on CUDA device DEVICE: bytes read + written per second of a
 * large device-to-device copy, and bf16 GEMM FLOP/s (8192^3, random data).
 * SL_ERR_UNSUPPORTED in a build without CUDA. */
sl_status_t sl_bench_ceilings(int device, double *copy_gbs_p, double *gemm_tflops_p);

#endif /* SL_BENCH_BENCH_H */
