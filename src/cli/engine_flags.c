/* engine_flags.c - see engine_flags.h. */
#include "config.h"

#include "cli/engine_flags.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/sampler.h"

int sl_cli_parse_long(const char *value, long long min, long long max, long long *out)
{
    char *end;
    if (value == NULL || value[0] == '\0')
        return 0;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

int sl_cli_parse_float(const char *value, float *out)
{
    char *end;
    if (value == NULL || value[0] == '\0')
        return 0;
    errno = 0;
    double v = strtod(value, &end);
    if (*end != '\0' || errno != 0 || !isfinite(v))
        return 0;
    *out = (float)v;
    return 1;
}

int sl_cli_parse_bytes(const char *value, uint64_t *out)
{
    char *end;
    if (value == NULL || value[0] < '0' || value[0] > '9')
        return 0;
    errno = 0;
    double v = strtod(value, &end);
    uint64_t unit = 1;
    switch (*end) {
    case 'k': case 'K': unit = 1ull << 10; end++; break;
    case 'm': case 'M': unit = 1ull << 20; end++; break;
    case 'g': case 'G': unit = 1ull << 30; end++; break;
    case 't': case 'T': unit = 1ull << 40; end++; break;
    }
    if (unit > 1 && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != '\0' || errno != 0 || !(v >= 1) || v * (double)unit > 1e18)
        return 0;
    *out = (uint64_t)(v * (double)unit);
    return 1;
}

void sl_cli_engine_args_init(sl_cli_engine_args_t *args)
{
    sl_runtime_options_init(args);
}

/* An integer flag of the tables below: name, destination, range. */
typedef struct sl_cli_int_flag {
    const char *name;
    int32_t *dst;
    long long min, max;
} sl_cli_int_flag_t;

/* argv[*i] as one of FLAGS; same returns as sl_cli_engine_flag(). */
static int sl_cli_int_flags(const char *command, int argc, char **argv, int *i,
                            const sl_cli_int_flag_t *flags, size_t n)
{
    const char *v;
    long long x;

    for (size_t k = 0; k < n; k++) {
        if (!sl_cli_flag(argc, argv, i, flags[k].name, &v))
            continue;
        if (!sl_cli_parse_long(v, flags[k].min, flags[k].max, &x)) {
            sl_cli_usage_error(command, "%s needs a whole number from %lld to %lld",
                               flags[k].name, flags[k].min, flags[k].max);
            return -1;
        }
        *flags[k].dst = (int32_t)x;
        return 1;
    }
    return 0;
}

int sl_cli_engine_flag(const char *command, int argc, char **argv, int *i,
                       sl_cli_engine_args_t *a)
{
    int32_t tp = a->model.tp;
    const sl_cli_int_flag_t ints[] = {
        {"--tp", &tp, 1, 4096},
        {"--threads", &a->threads, 1, 1024},
        {"--page-size", &a->page_size, 1, 256},
        {"--max-running-requests", &a->engine.max_running, 1, INT32_MAX},
        {"--chunked-prefill-size", &a->engine.chunked_prefill_size, -1, INT32_MAX},
        {"--max-prefill-tokens", &a->engine.max_prefill_tokens, 1, INT32_MAX},
        {"--cuda-graph-max-bs", &a->cuda_graph_max_bs, 0, 4096},
    };
    const char *v;
    int taken = sl_cli_int_flags(command, argc, argv, i, ints, sizeof(ints) / sizeof(ints[0]));

    a->model.tp = tp;
    if (taken != 0)
        return taken;
    if (sl_cli_flag(argc, argv, i, "--model", &v) ||
        sl_cli_flag(argc, argv, i, "--model-path", &v)) {
        if ((a->model_dir = v) == NULL) {
            sl_cli_usage_error(command, "--model needs a directory");
            return -1;
        }
    } else if (sl_cli_flag(argc, argv, i, "--kv-cache-memory", &v)) {
        if (!sl_cli_parse_bytes(v, &a->kv_bytes)) {
            sl_cli_usage_error(command, "--kv-cache-memory needs a size in bytes, e.g. 512M");
            return -1;
        }
    } else if (sl_cli_flag(argc, argv, i, "--load-format", &v)) {
        if (v == NULL || sl_load_format_parse(v, &a->model.load_format) != SL_OK) {
            sl_cli_usage_error(command, "--load-format: auto, safetensors or dummy");
            return -1;
        }
    } else if (sl_cli_flag(argc, argv, i, "--device", &v)) {
        if (v == NULL || (strcmp(v, "auto") != 0 && strcmp(v, "cpu") != 0 &&
                          strcmp(v, "cuda") != 0)) {
            sl_cli_usage_error(command, "--device: auto, cpu or cuda");
            return -1;
        }
        a->device = v;
    } else if (sl_cli_flag(argc, argv, i, "--mem-fraction-static", &v)) {
        float f;
        if (!sl_cli_parse_float(v, &f) || f <= 0 || f > 1) {
            sl_cli_usage_error(command, "--mem-fraction-static needs a fraction in (0, 1]");
            return -1;
        }
        a->mem_fraction_static = f;
    } else if (sl_cli_flag(argc, argv, i, "--gpu-sampling", &v)) {
        if (v == NULL || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)) {
            sl_cli_usage_error(command, "--gpu-sampling: on or off");
            return -1;
        }
        a->engine.host_sampling = strcmp(v, "off") == 0;
    } else if (strcmp(argv[*i], "--disable-cuda-graph") == 0) {
        a->disable_cuda_graph = 1;
    } else if (strcmp(argv[*i], "--disable-custom-all-reduce") == 0) {
        a->disable_custom_all_reduce = 1;
    } else if (strcmp(argv[*i], "--disable-prefix-cache") == 0 ||
               strcmp(argv[*i], "--disable-radix-cache") == 0) {
        a->engine.prefix_cache = false;
    } else {
        return 0;
    }
    return 1;
}

int sl_cli_sampling_flag(const char *command, int argc, char **argv, int *i,
                         sl_sampling_params_t *sp)
{
    const sl_cli_int_flag_t ints[] = {
        {"--max-tokens", &sp->max_tokens, 1, INT32_MAX},
        {"--min-tokens", &sp->min_tokens, 0, INT32_MAX},
        {"--top-k", &sp->top_k, -1, INT32_MAX},
        {"--logprobs", &sp->logprobs, 0, SL_MAX_LOGPROBS},
        {"-n", &sp->n, 1, 1024},
    };
    const struct {
        const char *name;
        float *dst;
    } floats[] = {
        {"--temperature", &sp->temperature}, {"--top-p", &sp->top_p},
        {"--min-p", &sp->min_p}, {"--repetition-penalty", &sp->repetition_penalty},
        {"--presence-penalty", &sp->presence_penalty},
        {"--frequency-penalty", &sp->frequency_penalty},
    };
    const char *v;
    long long n;
    int taken = sl_cli_int_flags(command, argc, argv, i, ints, sizeof(ints) / sizeof(ints[0]));

    if (taken != 0)
        return taken;
    for (size_t k = 0; k < sizeof(floats) / sizeof(floats[0]); k++) {
        if (!sl_cli_flag(argc, argv, i, floats[k].name, &v))
            continue;
        if (!sl_cli_parse_float(v, floats[k].dst)) {
            sl_cli_usage_error(command, "%s needs a number", floats[k].name);
            return -1;
        }
        return 1;
    }
    if (sl_cli_flag(argc, argv, i, "--seed", &v)) {
        if (!sl_cli_parse_long(v, 0, INT64_MAX, &n)) {
            sl_cli_usage_error(command, "--seed needs a whole number >= 0");
            return -1;
        }
        sp->has_seed = true;
        sp->seed = (uint64_t)n;
    } else if (sl_cli_flag(argc, argv, i, "--stop", &v)) {
        if (v == NULL || v[0] == '\0') {
            sl_cli_usage_error(command, "--stop needs a non-empty text");
            return -1;
        }
        if (sl_sampling_params_add_stop(sp, v) != SL_OK)
            return -1;
    } else if (sl_cli_flag(argc, argv, i, "--stop-token-id", &v)) {
        if (!sl_cli_parse_long(v, 0, INT32_MAX, &n)) {
            sl_cli_usage_error(command, "--stop-token-id needs a token id");
            return -1;
        }
        if (sl_sampling_params_add_stop_id(sp, (int32_t)n) != SL_OK)
            return -1;
    } else if (strcmp(argv[*i], "--ignore-eos") == 0) {
        sp->ignore_eos = true;
    } else {
        return 0;
    }
    return 1;
}
