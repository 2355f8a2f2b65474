/* cmd_bench.c - `slinfer bench`: offline throughput and latency of a model
 * shape (src/bench/bench.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "cli/job_flags.h"

/* "--NAME N" as an int in [lo, hi]; 1 when it was that flag. */
static int sl_bench_int(int argc, char **argv, int *i, const char *name, long lo, long hi,
                        int *out, int *bad)
{
    const char *v;
    char *end;
    if (!sl_cli_flag(argc, argv, i, name, &v))
        return 0;
    long x = v != NULL ? strtol(v, &end, 10) : 0;
    if (v == NULL || *end != '\0' || x < lo || x > hi) {
        *bad = sl_cli_usage_error("bench", "%s needs a number from %ld to %ld", name, lo, hi);
        return 1;
    }
    *out = (int)x;
    return 1;
}

static int sl_bench_double(int argc, char **argv, int *i, const char *name, double lo, double hi,
                           double *out, int *bad)
{
    const char *v;
    char *end;
    if (!sl_cli_flag(argc, argv, i, name, &v))
        return 0;
    double x = v != NULL ? strtod(v, &end) : 0;
    if (v == NULL || *end != '\0' || !(x >= lo && x <= hi)) {
        *bad = sl_cli_usage_error("bench", "%s needs a number from %g to %g", name, lo, hi);
        return 1;
    }
    *out = x;
    return 1;
}

/* With --bootstrap (or another job flag): joins the job and benches its one
 * TP group; the leader reports. */
static int sl_bench_in_job(sl_bench_options_t *o, const sl_job_options_t *jo)
{
    sl_preflight_t *pf = NULL;
    sl_job_t *job = NULL;
    int status = SL_EXIT_FAILURE;

    if (sl_preflight_create(&pf) != SL_OK || sl_cli_job_preflight(jo, pf) != SL_OK ||
        sl_preflight_add(pf, "--model", o->model_dir) != SL_OK ||
        sl_preflight_add_int(pf, "--tp", o->tp) != SL_OK ||
        sl_preflight_add_int(pf, "--load-format", o->load_format) != SL_OK ||
        sl_preflight_add_int(pf, "--max-prefill-tokens", o->max_tokens) != SL_OK ||
        sl_preflight_add_int(pf, "--batch-size", o->batch_size) != SL_OK ||
        sl_preflight_add_int(pf, "--num-prompts", o->num_prompts) != SL_OK ||
        sl_preflight_add_int(pf, "--cuda-graph-max-bs", o->cuda_graph_max_bs) != SL_OK ||
        sl_preflight_add_int(pf, "--disable-cuda-graph", o->disable_cuda_graph) != SL_OK ||
        sl_preflight_add_int(pf, "--block-size", o->block_size) != SL_OK)
        goto out;
    if (sl_job_start(jo, pf, &job) != SL_OK)
        goto out;
    o->job = job;
    if (sl_bench_run(o, stdout) != SL_OK)
        sl_job_abort(job, 1, "bench failed (see the log above)");
    status = fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
out:
    sl_job_end(job);
    sl_preflight_destroy(pf);
    return status;
}

static int sl_bench_main(int argc, char **argv)
{
    sl_bench_options_t o;
    sl_job_options_t jo;
    const char *v;
    int bad = 0, joined = 0, taken;

    sl_bench_options_init(&o);
    sl_job_options_init(&jo);
    for (int i = 1; i < argc && bad == 0; i++) {
        if ((taken = sl_cli_job_flag_argv("bench", argc, argv, &i, &jo)) != 0) {
            if (taken < 0)
                return SL_EXIT_USAGE;
            joined = 1;
        } else if (sl_cli_flag(argc, argv, &i, "--model", &v) ||
            sl_cli_flag(argc, argv, &i, "--model-path", &v)) {
            if ((o.model_dir = v) == NULL)
                return sl_cli_usage_error("bench", "--model needs a directory");
        } else if (sl_cli_flag(argc, argv, &i, "--load-format", &v)) {
            if (v == NULL || sl_load_format_parse(v, &o.load_format) != SL_OK)
                return sl_cli_usage_error("bench", "--load-format: auto, safetensors or dummy");
        } else if (sl_cli_flag(argc, argv, &i, "--backend", &v)) {
            if (v == NULL || (strcmp(v, "cuda") != 0 && strcmp(v, "cpu") != 0))
                return sl_cli_usage_error("bench", "--backend: cuda or cpu");
            o.backend = v;
        } else if (sl_cli_flag(argc, argv, &i, "--seed", &v)) {
            char *end;
            unsigned long long seed = v != NULL ? strtoull(v, &end, 10) : 0;
            if (v == NULL || *end != '\0')
                return sl_cli_usage_error("bench", "--seed needs a number");
            o.seed = seed;
        } else if (sl_bench_int(argc, argv, &i, "--tp", 1, 64, &o.tp, &bad) ||
                   sl_bench_int(argc, argv, &i, "--threads", 1, 1024, &o.threads, &bad) ||
                   sl_bench_int(argc, argv, &i, "--batch-size", 1, 1 << 20, &o.batch_size, &bad) ||
                   sl_bench_int(argc, argv, &i, "--input-len", 1, 1 << 22, &o.input_len, &bad) ||
                   sl_bench_int(argc, argv, &i, "--output-len", 1, 1 << 22, &o.output_len, &bad) ||
                   sl_bench_int(argc, argv, &i, "--num-prompts", 1, 1 << 24, &o.num_prompts,
                                &bad) ||
                   sl_bench_int(argc, argv, &i, "--runs", 1, 64, &o.runs, &bad) ||
                   sl_bench_int(argc, argv, &i, "--warmup-runs", 0, 64, &o.warmup_runs, &bad) ||
                   sl_bench_int(argc, argv, &i, "--cuda-graph-max-bs", 1, 4096,
                                &o.cuda_graph_max_bs, &bad) ||
                   sl_bench_int(argc, argv, &i, "--max-prefill-tokens", 1, 1 << 20,
                                &o.max_tokens, &bad) ||
                   sl_bench_int(argc, argv, &i, "--block-size", 1, 1024, &o.block_size, &bad) ||
                   sl_bench_double(argc, argv, &i, "--mem-fraction-static", 0.01, 1.0,
                                   &o.mem_fraction_static, &bad) ||
                   sl_bench_double(argc, argv, &i, "--random-range-ratio", 0.0, 1.0,
                                   &o.random_range_ratio, &bad) ||
                   sl_bench_double(argc, argv, &i, "--peak-tflops", 1.0, 1e6, &o.peak_tflops,
                                   &bad) ||
                   sl_bench_double(argc, argv, &i, "--peak-gbs", 1.0, 1e7, &o.peak_gbs, &bad) ||
                   sl_bench_double(argc, argv, &i, "--temperature", 0.0, 100.0, &o.temperature,
                                   &bad) ||
                   sl_bench_double(argc, argv, &i, "--top-p", 1e-6, 1.0, &o.top_p, &bad) ||
                   sl_bench_int(argc, argv, &i, "--top-k", 0, 1 << 30, &o.top_k, &bad)) {
            /* parsed (or bad set) */
        } else if (strcmp(argv[i], "--disable-cuda-graph") == 0) {
            o.disable_cuda_graph = 1;
        } else if (strcmp(argv[i], "--disable-custom-all-reduce") == 0) {
            o.disable_custom_all_reduce = 1;
        } else if (strcmp(argv[i], "--measure-ceilings") == 0) {
            o.measure_ceilings = 1;
        } else if (strcmp(argv[i], "--logits-on-host") == 0) {
            o.logits_on_host = 1;
        } else {
            return sl_cli_usage_error("bench", "unknown argument '%s'", argv[i]);
        }
    }
    if (bad != 0)
        return bad;
    if (o.model_dir == NULL && !o.measure_ceilings)
        return sl_cli_usage_error("bench", "--model is required");
    if (o.num_prompts == 0 && o.batch_size > o.max_tokens)
        return sl_cli_usage_error("bench", "--batch-size %d exceeds --max-prefill-tokens %d",
                                  o.batch_size, o.max_tokens);
    if (joined)
        return sl_bench_in_job(&o, &jo);
    if (sl_bench_run(&o, stdout) != SL_OK)
        return SL_EXIT_FAILURE;
    return fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
}

const sl_cli_command_t sl_cmd_bench = {
    .name = "bench",
    .summary = "measure offline throughput and latency of a model shape",
    .usage =
        "Usage: slinfer bench --model DIR [--load-format dummy] [--tp N]\n"
        "                     [--batch-size B --input-len I --output-len O | --num-prompts N]\n"
        "                     [options]\n"
        "\n"
        "Static batch (default): B sequences of I random tokens are prefilled (at most\n"
        "--max-prefill-tokens per step), then decoded for O tokens each (greedily, or\n"
        "sampled with --temperature), EOS ignored; one warm-up run, then --runs timed\n"
        "runs, medians reported. With --num-prompts, N requests of random lengths\n"
        "(uniform in [ratio * I, I] and [ratio * O, O]) run through the engine with\n"
        "continuous batching.\n"
        "Reports output and total tokens/s, TTFT and TPOT p50/p99, prefill tokens/s,\n"
        "model FLOP utilisation against the bf16 GEMM rate and decode HBM bandwidth\n"
        "utilisation against the device copy rate (both measured with\n"
        "--measure-ceilings, else 730 TFLOP/s and 4100 GB/s, one H200). Lines starting\n"
        "with RESULT are for scripts.\n"
        "\n"
        "Options:\n"
        "  --model DIR, --model-path DIR  model folder (config.json is enough with dummy)\n"
        "  --load-format FORMAT           auto (safetensors) or dummy (random weights; the\n"
        "                                 CUDA backend generates them on the GPUs)\n"
        "  --seed N                       of the dummy weights and the prompts (0)\n"
        "  --tp N                         tensor-parallel GPUs (1)\n"
        "  --backend NAME                 cuda (default in a CUDA build) or cpu\n"
        "  --threads N                    CPU backend threads\n"
        "  --batch-size B                 static batch size; engine: running requests (1)\n"
        "  --input-len I, --output-len O  tokens per prompt and per output (128, 256)\n"
        "  --num-prompts N                engine mode with N prompts\n"
        "  --random-range-ratio R         engine mode length range (0: [1, I])\n"
        "  --runs N                       timed static-batch runs (3)\n"
        "  --warmup-runs N                untimed runs before them (1)\n"
        "  --max-prefill-tokens N         tokens per step (16384)\n"
        "  --mem-fraction-static F        of free GPU memory after weights for KV (0.9)\n"
        "  --cuda-graph-max-bs N          largest decode batch replayed as a graph (256)\n"
        "  --disable-cuda-graph           run every step eagerly\n"
        "  --disable-custom-all-reduce    TP: NCCL for every all-reduce, not the one-shot\n"
        "                                 kernel over peer memory\n"
        "  --block-size N                 KV slots per block (16)\n"
        "  --logits-on-host               copy float32 logits to the host and sample there\n"
        "                                 (default: sample on the GPU)\n"
        "  --temperature T                sample every token at temperature T (0: greedy)\n"
        "  --top-p P, --top-k K           with it, the top-p and top-k filters (1, 0: off)\n"
        "  --measure-ceilings             time a 2 GiB device copy and an 8192^3 bf16 GEMM\n"
        "                                 first and use them as the ceilings\n"
        "  --peak-tflops X, --peak-gbs Y  ceilings per GPU to report against instead\n"
        "\n"
        "A job flag (--bootstrap) makes the process one of a job (srun --mpi=pmix, or\n"
        "the env bootstrap) that benches one TP group: --tp larger than a process's\n"
        "GPUs spans tp / GPUs processes, TP rank 0's process reports, the others\n"
        "follow its steps.\n"
        "\n" SL_CLI_JOB_USAGE,
    .run = sl_bench_main,
};
