/* cmd_logits.c - `slinfer logits`: the CPU backend's logits for a list of
 * token ids, written as safetensors (for comparison with other engines). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_backend.h"
#include "cli/cli.h"
#include "core/log.h"
#include "model/model.h"
#include "model/safetensors.h"

#define SL_LOGITS_MAX_IDS (1 << 20)
#define SL_LOGITS_BLOCK 16

typedef struct sl_logits_args {
    const char *dir, *output, *ids_text;
    sl_model_options_t model;
    int all, threads;
} sl_logits_args_t;

/* "1,2,3" -> ids; returns the count, or -1 if malformed. */
static long sl_parse_ids(const char *text, int32_t **ids_p)
{
    long n = 1, k = 0;
    int32_t *ids;

    for (const char *p = text; *p; p++)
        n += *p == ',';
    if (text[0] == '\0' || n > SL_LOGITS_MAX_IDS)
        return -1;
    ids = malloc((size_t)n * sizeof(*ids));
    if (ids == NULL)
        return -1;
    for (const char *p = text; k < n; k++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno != 0 || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0') ||
            (*end == '\0' && k != n - 1)) {
            free(ids);
            return -1;
        }
        ids[k] = (int32_t)v;
        p = end + 1;
    }
    *ids_p = ids;
    return n;
}

static int sl_logits_parse(int argc, char **argv, sl_logits_args_t *a)
{
    const char *value;

    memset(a, 0, sizeof(*a));
    sl_model_options_init(&a->model);
    for (int i = 1; i < argc; i++) {
        char *end;
        if (sl_cli_flag(argc, argv, &i, "--model", &value) ||
            sl_cli_flag(argc, argv, &i, "--model-path", &value)) {
            if ((a->dir = value) == NULL)
                return sl_cli_usage_error("logits", "--model needs a directory");
        } else if (sl_cli_flag(argc, argv, &i, "--ids", &value)) {
            if ((a->ids_text = value) == NULL)
                return sl_cli_usage_error("logits", "--ids needs token ids, e.g. 1,2,3");
        } else if (sl_cli_flag(argc, argv, &i, "--output", &value)) {
            if ((a->output = value) == NULL)
                return sl_cli_usage_error("logits", "--output needs a file name");
        } else if (sl_cli_flag(argc, argv, &i, "--tp", &value)) {
            long tp = value != NULL ? strtol(value, &end, 10) : 0;
            if (value == NULL || *end != '\0' || tp < 1 || tp > 4096)
                return sl_cli_usage_error("logits", "--tp needs a number from 1 to 4096");
            a->model.tp = (int)tp;
        } else if (sl_cli_flag(argc, argv, &i, "--threads", &value)) {
            long t = value != NULL ? strtol(value, &end, 10) : 0;
            if (value == NULL || *end != '\0' || t < 1 || t > 1024)
                return sl_cli_usage_error("logits", "--threads needs a number from 1 to 1024");
            a->threads = (int)t;
        } else if (sl_cli_flag(argc, argv, &i, "--load-format", &value)) {
            if (value == NULL || sl_load_format_parse(value, &a->model.load_format) != SL_OK)
                return sl_cli_usage_error("logits", "--load-format: auto, safetensors or dummy");
        } else if (sl_cli_flag(argc, argv, &i, "--seed", &value)) {
            unsigned long long seed = value != NULL ? strtoull(value, &end, 10) : 0;
            if (value == NULL || *end != '\0')
                return sl_cli_usage_error("logits", "--seed needs a number");
            a->model.seed = seed;
        } else if (strcmp(argv[i], "--all") == 0) {
            a->all = 1;
        } else {
            return sl_cli_usage_error("logits", "unknown argument '%s'", argv[i]);
        }
    }
    if (a->dir == NULL || a->ids_text == NULL || a->output == NULL)
        return sl_cli_usage_error("logits", "--model, --ids and --output are required");
    return SL_EXIT_OK;
}

/* One prefill of IDS; logits of every position (ALL) or of the last. */
static sl_status_t sl_logits_compute(const sl_model_t *m, const sl_logits_args_t *a,
                                     const int32_t *ids, int32_t n, float **logits_p,
                                     int32_t *rows_p)
{
    int32_t nb = (n + SL_LOGITS_BLOCK - 1) / SL_LOGITS_BLOCK, rows = a->all ? n : 1;
    sl_backend_options_t bo = {.threads = a->threads, .block_size = SL_LOGITS_BLOCK,
                               .num_blocks = nb};
    int32_t *table = malloc((size_t)nb * sizeof(int32_t));
    int32_t *idx = malloc((size_t)rows * sizeof(int32_t));
    float *logits = malloc((size_t)rows * (size_t)m->config->vocab_size * sizeof(float));
    sl_backend_t *be = NULL;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (table == NULL || idx == NULL || logits == NULL) {
        sl_error("out of memory for the logits of %d positions", rows);
        goto out;
    }
    for (int32_t i = 0; i < nb; i++)
        table[i] = i;
    for (int32_t i = 0; i < rows; i++)
        idx[i] = a->all ? i : n - 1;
    sl_batch_seq_t seq = {.num_tokens = n, .start_pos = 0, .num_blocks = nb, .block_table = table};
    sl_batch_t batch = {.num_seqs = 1, .seqs = &seq, .num_tokens = n, .tokens = ids,
                        .num_logits = rows, .logit_indices = idx};
    if ((s = sl_cpu_backend_create(m, &bo, &be)) != SL_OK ||
        (s = sl_backend_forward(be, &batch, logits)) != SL_OK)
        goto out;
    *logits_p = logits;
    *rows_p = rows;
    logits = NULL;
out:
    sl_backend_destroy(be);
    free(logits);
    free(idx);
    free(table);
    return s;
}

static int sl_logits_run(int argc, char **argv)
{
    sl_logits_args_t a;
    int32_t *ids = NULL, rows = 0;
    float *logits = NULL;
    sl_model_t *m = NULL;
    long n;
    int status = sl_logits_parse(argc, argv, &a);

    if (status != SL_EXIT_OK)
        return status;
    n = sl_parse_ids(a.ids_text, &ids);
    if (n < 0)
        return sl_cli_usage_error("logits", "--ids '%.40s': expected comma-separated token ids",
                                  a.ids_text);
    status = SL_EXIT_FAILURE;
    if (sl_model_load(a.dir, &a.model, &m) != SL_OK)
        goto out;
    for (long i = 0; i < n; i++) {
        if (ids[i] >= m->config->vocab_size) {
            status = sl_cli_usage_error("logits", "--ids: token id %d is outside the "
                                        "vocabulary of %lld", ids[i],
                                        (long long)m->config->vocab_size);
            goto out;
        }
    }
    if (sl_logits_compute(m, &a, ids, (int32_t)n, &logits, &rows) != SL_OK)
        goto out;
    sl_st_out_tensor_t t = {.name = "logits", .dtype = SL_DTYPE_F32, .ndim = 2,
                            .shape = {(uint64_t)rows, (uint64_t)m->config->vocab_size},
                            .data = logits};
    if (sl_st_write(a.output, &t, 1) != SL_OK)
        goto out;
    printf("logits [%d, %lld] of %ld tokens written to %s\n", rows,
           (long long)m->config->vocab_size, n, a.output);
    status = fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
out:
    free(logits);
    sl_model_free(m);
    free(ids);
    return status;
}

const sl_cli_command_t sl_cmd_logits = {
    .name = "logits",
    .summary = "compute a model's logits for token ids on the CPU",
    .usage = "Usage: slinfer logits --model DIR --ids ID,ID,... --output FILE [--all]\n"
             "                      [--tp N] [--threads N] [--load-format FORMAT] [--seed N]\n"
             "\n"
             "Run the CPU reference backend over the token ids as one prompt and write\n"
             "the float32 tensor \"logits\" of shape [positions, vocab] to the\n"
             "safetensors FILE: the last position only, or every one with --all.\n"
             "\n"
             "Options:\n"
             "  --model DIR, --model-path DIR  the HuggingFace model folder\n"
             "  --ids ID,ID,...                token ids of the prompt\n"
             "  --output FILE                  safetensors file to write\n"
             "  --all                          logits of every position\n"
             "  --tp N                         tensor-parallel rank threads (default 1)\n"
             "  --threads N                    compute threads in all (default:\n"
             "                                 SLINFER_THREADS, else the CPUs available)\n"
             "  --load-format FORMAT           auto (safetensors) or dummy (random weights\n"
             "                                 from config.json alone)\n"
             "  --seed N                       seed of the dummy weights (default 0)\n",
    .run = sl_logits_run,
};
