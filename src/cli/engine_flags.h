/*
 * engine_flags.h - the flags of every command that runs the engine
 * (generate, run, serve): the model, the engine and the sampling defaults,
 * parsed one argument at a time so each command adds its own flags around
 * them. Names follow SGLang's where they mean the same (--model-path, --tp,
 * --max-running-requests, --chunked-prefill-size, --disable-radix-cache...).
 */
#ifndef SL_CLI_ENGINE_FLAGS_H
#define SL_CLI_ENGINE_FLAGS_H

#include <stdint.h>

#include "engine/request.h"
#include "job/runtime.h"

/* What the engine flags set: a runtime's options (job/runtime.h). */
typedef sl_runtime_options_t sl_cli_engine_args_t;

void sl_cli_engine_args_init(sl_cli_engine_args_t *args);

/* Argument argv[*i] as an engine flag (advancing *i past its value):
 * 1 taken, 0 not an engine flag, -1 bad value (usage error printed). */
int sl_cli_engine_flag(const char *command, int argc, char **argv, int *i,
                       sl_cli_engine_args_t *args);

/* The same for the sampling flags, into `params`. */
int sl_cli_sampling_flag(const char *command, int argc, char **argv, int *i,
                         sl_sampling_params_t *params);

/* Value parsers: 1 and *out set when VALUE is valid, else 0. */
int sl_cli_parse_long(const char *value, long long min, long long max, long long *out);
int sl_cli_parse_float(const char *value, float *out);
int sl_cli_parse_bytes(const char *value, uint64_t *out); /* "512M", "4GiB", ... */

#define SL_CLI_SAMPLING_USAGE                                                            \
    "Sampling:\n"                                                                        \
    "  --max-tokens N            tokens to generate at most (default 128)\n"             \
    "  --min-tokens N            no EOS or stop before N tokens (default 0)\n"           \
    "  --temperature T           0 is greedy (default 1)\n"                              \
    "  --top-p P, --top-k K, --min-p P   filters (default off)\n"                        \
    "  --repetition-penalty R    HF-style, over prompt and output (default 1)\n"         \
    "  --presence-penalty P, --frequency-penalty F   OpenAI-style (default 0)\n"         \
    "  --seed N                  reproducible sampling\n"                                \
    "  --stop TEXT               stop string, not returned (repeatable)\n"               \
    "  --stop-token-id ID        stop token (repeatable)\n"                              \
    "  --ignore-eos              do not stop at EOS\n"                                   \
    "  --logprobs N              logprobs of the raw model distribution, with the\n"     \
    "                            N (0..20) most likely alternatives\n"                   \
    "  -n N                      N completions sharing the prompt's KV blocks\n"

#define SL_CLI_ENGINE_USAGE                                                              \
    "Engine:\n"                                                                          \
    "  --model DIR, --model-path DIR   HuggingFace model folder\n"                       \
    "  --tp N                    tensor-parallel rank threads (default 1)\n"             \
    "  --threads N               compute threads in all (default: SLINFER_THREADS,\n"    \
    "                            else the CPUs available)\n"                             \
    "  --page-size N             tokens per KV block (default 16)\n"                     \
    "  --kv-cache-memory BYTES   KV cache of all ranks, e.g. 512M\n"                     \
    "  --max-running-requests N  sequences running at once (default 256)\n"             \
    "  --chunked-prefill-size N  prefill chunk, -1 for none (default 2048)\n"           \
    "  --max-prefill-tokens N    prefill tokens per step (default 16384)\n"             \
    "  --disable-prefix-cache, --disable-radix-cache   no prefix caching\n"              \
    "  --load-format FORMAT      auto (safetensors) or dummy (random weights)\n"         \
    "  --device DEVICE           auto (CUDA when built with it and --tp GPUs are\n"      \
    "                            visible), cpu, cuda\n"                                  \
    "  --mem-fraction-static F   GPU: fraction of free memory after the weights for\n"  \
    "                            the KV cache (default 0.9)\n"                           \
    "  --cuda-graph-max-bs N     largest decode batch run as a CUDA graph (256)\n"       \
    "  --disable-cuda-graph      run every step eagerly\n"                              \
    "  --disable-custom-all-reduce   TP: NCCL for every all-reduce, not the one-shot\n"  \
    "                            kernel over peer memory (SLINFER_CUSTOM_ALLREDUCE=0)\n" \
    "  --gpu-sampling on|off     sample on the GPU where the logits are (on), or copy\n" \
    "                            the logits to the host and sample there (off; plain\n"  \
    "                            greedy steps take the argmax on the GPU either way)\n"

#endif /* SL_CLI_ENGINE_FLAGS_H */
