/* cmd_inspect.c - `slinfer inspect`: what a model folder holds and what it
 * costs per tensor-parallel rank. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/model.h"

static void sl_inspect_rope(const sl_rope_config_t *r, char *buf, size_t len)
{
    switch (r->type) {
    case SL_ROPE_DEFAULT:
        snprintf(buf, len, "default, theta %g", r->theta);
        break;
    case SL_ROPE_LINEAR:
        snprintf(buf, len, "linear, theta %g, factor %g", r->theta, r->factor);
        break;
    case SL_ROPE_LLAMA3:
        snprintf(buf, len, "llama3, theta %g, factor %g, low/high freq factor %g/%g, original "
                 "context %g", r->theta, r->factor, r->low_freq_factor, r->high_freq_factor,
                 r->original_max_position);
        break;
    case SL_ROPE_YARN:
        snprintf(buf, len, "yarn, theta %g, factor %g, original context %g, beta %g/%g, "
                 "attention factor %g", r->theta, r->factor, r->original_max_position,
                 r->beta_fast, r->beta_slow, r->attention_factor);
        break;
    }
}

static int sl_inspect_print(const sl_model_t *m, int as_json)
{
    const sl_model_config_t *c = m->config;
    int64_t params = sl_model_param_count(m->specs, m->num_specs);
    size_t kv_elem = sl_dtype_size(c->dtype);
    uint64_t kv_rank = sl_model_kv_bytes_per_token(m, kv_elem);
    char rope[256];

    sl_inspect_rope(&c->rope, rope, sizeof(rope));
    if (as_json) {
        json_t *ranks = json_array();
        for (int r = 0; r < m->tp; r++)
            json_array_append_new(ranks, json_integer((json_int_t)m->ranks[r].bytes));
        json_t *o = json_pack(
            "{ss ss sI sI sI sI sI sI sI sI ss sb sb sb sI sI ss si so sI sI ss}", "model",
            m->dir, "architecture", c->arch_name, "layers", (json_int_t)c->num_layers,
            "hidden_size", (json_int_t)c->hidden_size, "heads", (json_int_t)c->num_heads,
            "kv_heads", (json_int_t)c->num_kv_heads, "head_dim", (json_int_t)c->head_dim,
            "intermediate_size", (json_int_t)c->intermediate_size, "vocab_size",
            (json_int_t)c->vocab_size, "max_position", (json_int_t)c->max_position, "rope", rope,
            "tied_embeddings", c->tie_word_embeddings, "qkv_bias", c->qkv_bias, "qk_norm",
            c->qk_norm, "sliding_window", (json_int_t)c->sliding_window, "parameters",
            (json_int_t)params, "dtype", sl_dtype_name(m->dtype), "tp", m->tp, "bytes_per_rank",
            ranks, "kv_bytes_per_token_per_rank", (json_int_t)kv_rank,
            "kv_bytes_per_token", (json_int_t)(kv_rank * (uint64_t)m->tp), "kv_dtype",
            sl_dtype_name(c->dtype));
        char *text = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text == NULL)
            return SL_EXIT_FAILURE;
        puts(text);
        free(text);
    } else {
        printf("model:             %s\n", m->dir);
        printf("architecture:      %s\n", c->arch_name);
        printf("layers:            %lld\n", (long long)c->num_layers);
        printf("hidden size:       %lld\n", (long long)c->hidden_size);
        printf("attention heads:   %lld query, %lld KV, head_dim %lld%s\n",
               (long long)c->num_heads, (long long)c->num_kv_heads, (long long)c->head_dim,
               c->qk_norm ? ", q/k norm" : "");
        printf("intermediate size: %lld\n", (long long)c->intermediate_size);
        printf("vocabulary:        %lld%s\n", (long long)c->vocab_size,
               c->tie_word_embeddings ? " (tied embeddings)" : "");
        printf("max positions:     %lld\n", (long long)c->max_position);
        printf("rope:              %s\n", rope);
        if (c->sliding_window > 0)
            printf("sliding window:    %lld\n", (long long)c->sliding_window);
        printf("parameters:        %lld (%.2f M)\n", (long long)params, (double)params / 1e6);
        printf("dtype:             %s\n", sl_dtype_name(m->dtype));
        printf("tensor parallel:   %d\n", m->tp);
        for (int r = 0; r < m->tp; r++)
            printf("  rank %-3d         %llu bytes (%.2f MiB)\n", r,
                   (unsigned long long)m->ranks[r].bytes,
                   (double)m->ranks[r].bytes / (1 << 20));
        printf("KV cache per token: %llu bytes per rank, %llu in all (%s)\n",
               (unsigned long long)kv_rank, (unsigned long long)(kv_rank * (uint64_t)m->tp),
               sl_dtype_name(c->dtype));
    }
    return fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
}

static int sl_inspect_run(int argc, char **argv)
{
    sl_model_options_t opt;
    const char *dir = NULL, *value;
    int as_json = 0, status;
    sl_model_t *model;

    sl_model_options_init(&opt);
    for (int i = 1; i < argc; i++) {
        if (sl_cli_flag(argc, argv, &i, "--model", &value) ||
            sl_cli_flag(argc, argv, &i, "--model-path", &value)) {
            if (value == NULL)
                return sl_cli_usage_error("inspect", "--model needs a directory");
            dir = value;
        } else if (sl_cli_flag(argc, argv, &i, "--tp", &value)) {
            char *end;
            long tp = value != NULL ? strtol(value, &end, 10) : 0;
            if (value == NULL || *end != '\0' || tp < 1 || tp > 4096)
                return sl_cli_usage_error("inspect", "--tp needs a number from 1 to 4096");
            opt.tp = (int)tp;
        } else if (sl_cli_flag(argc, argv, &i, "--load-format", &value)) {
            if (value == NULL || sl_load_format_parse(value, &opt.load_format) != SL_OK)
                return sl_cli_usage_error("inspect", "--load-format: auto, safetensors or dummy");
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else {
            return sl_cli_usage_error("inspect", "unknown argument '%s'", argv[i]);
        }
    }
    if (dir == NULL)
        return sl_cli_usage_error("inspect", "--model DIR is required");
    if (sl_model_load(dir, &opt, &model) != SL_OK)
        return SL_EXIT_FAILURE;
    status = sl_inspect_print(model, as_json);
    sl_model_free(model);
    return status;
}

const sl_cli_command_t sl_cmd_inspect = {
    .name = "inspect",
    .summary = "show a model's architecture, size and memory per TP rank",
    .usage = "Usage: slinfer inspect --model DIR [--tp N] [--load-format FORMAT] [--json]\n"
             "\n"
             "Load and validate the HuggingFace model folder DIR (config.json and its\n"
             "safetensors files) and print its architecture, layers, heads, parameters,\n"
             "dtype, the weight bytes each of N tensor-parallel ranks reads, and the KV\n"
             "cache bytes per token.\n"
             "\n"
             "Options:\n"
             "  --model DIR, --model-path DIR  the model folder\n"
             "  --tp N                         tensor-parallel ranks (default 1)\n"
             "  --load-format FORMAT           auto (safetensors) or dummy (random weights\n"
             "                                 from config.json alone)\n"
             "  --json                         print one JSON object\n",
    .run = sl_inspect_run,
};
