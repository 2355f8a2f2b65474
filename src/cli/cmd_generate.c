/* cmd_generate.c - `slinfer generate`: one request through the whole engine
 * (scheduler, paged KV cache, sampler, stop conditions) on the CPU backend. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/cpu_backend.h"
#include "cli/cli.h"
#include "core/log.h"
#include "engine/engine.h"
#include "engine/gen_config.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#define SL_GEN_MAX_IDS (1 << 20)
/* --kv-cache-memory when not given: at most this, and no more than the
 * request needs. */
#define SL_GEN_DEFAULT_KV (256ull << 20)

typedef struct sl_gen_args {
    const char *dir, *prompt, *ids_text;
    sl_model_options_t model;
    sl_sampling_params_t sp;
    sl_engine_options_t eo;
    int threads, json, usage;
    int32_t page_size;
    uint64_t kv_bytes; /* 0: default */
} sl_gen_args_t;

#define sl_gen_usage(...) sl_cli_usage_error("generate", __VA_ARGS__)

/* VALUE as an integer in [MIN, MAX]. */
static int sl_gen_long(const char *value, long long min, long long max, long long *out)
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

static int sl_gen_float(const char *value, float *out)
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

/* "1073741824", "512M", "4G", "64KiB"... in bytes. */
static int sl_gen_bytes(const char *value, uint64_t *out)
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

/* "1,2,3" -> ids; returns the count, or -1 if malformed. */
static long sl_gen_parse_ids(const char *text, int32_t **ids_p)
{
    long n = 1, k = 0;
    int32_t *ids;

    for (const char *p = text; *p; p++)
        n += *p == ',';
    if (text[0] == '\0' || n > SL_GEN_MAX_IDS || (ids = malloc((size_t)n * 4)) == NULL)
        return -1;
    for (const char *p = text; k < n; k++) {
        long long v;
        char buf[24];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof(buf)) {
            free(ids);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!sl_gen_long(buf, 0, INT32_MAX, &v)) {
            free(ids);
            return -1;
        }
        ids[k] = (int32_t)v;
        p += len + (p[len] == ',');
    }
    *ids_p = ids;
    return n;
}

/* The integer flags: name, where, range. */
typedef struct sl_gen_int_flag {
    const char *name;
    int32_t *dst;
    long long min, max;
} sl_gen_int_flag_t;

static int sl_gen_parse(int argc, char **argv, sl_gen_args_t *a)
{
    const char *v;
    long long n;

    memset(a, 0, sizeof(*a));
    sl_model_options_init(&a->model);
    sl_sampling_params_init(&a->sp);
    sl_engine_options_init(&a->eo);
    a->page_size = 16;
    int32_t tp = 1, threads = 0, logprobs = -1, top_k = 0;
    const sl_gen_int_flag_t ints[] = {
        {"--max-tokens", &a->sp.max_tokens, 1, INT32_MAX},
        {"--min-tokens", &a->sp.min_tokens, 0, INT32_MAX},
        {"--top-k", &top_k, -1, INT32_MAX},
        {"--logprobs", &logprobs, 0, SL_MAX_LOGPROBS},
        {"-n", &a->sp.n, 1, 1024},
        {"--tp", &tp, 1, 4096},
        {"--threads", &threads, 1, 1024},
        {"--page-size", &a->page_size, 1, 256},
        {"--max-running-requests", &a->eo.max_running, 1, INT32_MAX},
        {"--chunked-prefill-size", &a->eo.chunked_prefill_size, -1, INT32_MAX},
        {"--max-prefill-tokens", &a->eo.max_prefill_tokens, 1, INT32_MAX},
    };
    const struct {
        const char *name;
        float *dst;
    } floats[] = {
        {"--temperature", &a->sp.temperature}, {"--top-p", &a->sp.top_p},
        {"--min-p", &a->sp.min_p}, {"--repetition-penalty", &a->sp.repetition_penalty},
        {"--presence-penalty", &a->sp.presence_penalty},
        {"--frequency-penalty", &a->sp.frequency_penalty},
    };

    for (int i = 1; i < argc; i++) {
        size_t k;
        for (k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
            if (sl_cli_flag(argc, argv, &i, ints[k].name, &v)) {
                if (!sl_gen_long(v, ints[k].min, ints[k].max, &n))
                    return sl_cli_usage_error("generate", "%s needs a whole number from %lld "
                                              "to %lld", ints[k].name, ints[k].min,
                                              ints[k].max);
                *ints[k].dst = (int32_t)n;
                break;
            }
        }
        if (k < sizeof(ints) / sizeof(ints[0]))
            continue;
        for (k = 0; k < sizeof(floats) / sizeof(floats[0]); k++) {
            if (sl_cli_flag(argc, argv, &i, floats[k].name, &v)) {
                if (!sl_gen_float(v, floats[k].dst))
                    return sl_gen_usage("%s needs a number", floats[k].name);
                break;
            }
        }
        if (k < sizeof(floats) / sizeof(floats[0]))
            continue;
        if (sl_cli_flag(argc, argv, &i, "--model", &v) ||
            sl_cli_flag(argc, argv, &i, "--model-path", &v)) {
            if ((a->dir = v) == NULL)
                return sl_gen_usage("%s needs a directory", "--model");
        } else if (sl_cli_flag(argc, argv, &i, "--prompt", &v)) {
            if ((a->prompt = v) == NULL)
                return sl_gen_usage("%s needs a text", "--prompt");
        } else if (sl_cli_flag(argc, argv, &i, "--ids", &v)) {
            if ((a->ids_text = v) == NULL)
                return sl_gen_usage("%s needs token ids, e.g. 1,2,3", "--ids");
        } else if (sl_cli_flag(argc, argv, &i, "--seed", &v)) {
            if (!sl_gen_long(v, 0, INT64_MAX, &n))
                return sl_gen_usage("%s needs a whole number >= 0", "--seed");
            a->sp.has_seed = true;
            a->sp.seed = (uint64_t)n;
        } else if (sl_cli_flag(argc, argv, &i, "--stop", &v)) {
            if (v == NULL || v[0] == '\0')
                return sl_gen_usage("%s needs a non-empty text", "--stop");
            if (sl_sampling_params_add_stop(&a->sp, v) != SL_OK)
                return SL_EXIT_FAILURE;
        } else if (sl_cli_flag(argc, argv, &i, "--stop-token-id", &v)) {
            if (!sl_gen_long(v, 0, INT32_MAX, &n))
                return sl_gen_usage("%s needs a token id", "--stop-token-id");
            if (sl_sampling_params_add_stop_id(&a->sp, (int32_t)n) != SL_OK)
                return SL_EXIT_FAILURE;
        } else if (sl_cli_flag(argc, argv, &i, "--kv-cache-memory", &v)) {
            if (!sl_gen_bytes(v, &a->kv_bytes))
                return sl_gen_usage("%s needs a size in bytes, e.g. 512M or 4G",
                                    "--kv-cache-memory");
        } else if (sl_cli_flag(argc, argv, &i, "--load-format", &v)) {
            if (v == NULL || sl_load_format_parse(v, &a->model.load_format) != SL_OK)
                return sl_gen_usage("%s: auto, safetensors or dummy", "--load-format");
        } else if (strcmp(argv[i], "--ignore-eos") == 0) {
            a->sp.ignore_eos = true;
        } else if (strcmp(argv[i], "--disable-prefix-cache") == 0 ||
                   strcmp(argv[i], "--disable-radix-cache") == 0) {
            a->eo.prefix_cache = false;
        } else if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
        } else if (strcmp(argv[i], "--usage") == 0) {
            a->usage = 1;
        } else {
            return sl_gen_usage("unknown argument '%s'", argv[i]);
        }
    }
    a->model.tp = tp;
    a->threads = threads;
    a->sp.logprobs = logprobs;
    a->sp.top_k = top_k;
    if (a->dir == NULL || (a->prompt == NULL) == (a->ids_text == NULL))
        return sl_gen_usage("%s", "--model and one of --prompt or --ids are required");
    return SL_EXIT_OK;
}

/* ---- output ------------------------------------------------------------------- */

static json_t *sl_gen_logprobs_json(const sl_sequence_t *q, int32_t top_n)
{
    json_t *list = json_array();

    for (int32_t k = 0; list != NULL && k < q->num_out; k++) {
        json_t *top = json_array();
        for (int32_t j = 0; top != NULL && j < q->num_top[k]; j++)
            json_array_append_new(top, json_pack("{sisf}", "token",
                                                 q->top_ids[(size_t)k * (size_t)top_n + (size_t)j],
                                                 "logprob",
                                                 (double)q->top_logprobs[(size_t)k * (size_t)top_n +
                                                                         (size_t)j]));
        json_array_append_new(list, json_pack("{sisfso}", "token", q->out[k], "logprob",
                                              (double)q->logprobs[k], "top_logprobs", top));
    }
    return list;
}

static json_t *sl_gen_choice_json(const sl_request_t *r, const sl_sequence_t *q, bool has_text)
{
    json_t *o = json_object(), *ids = json_array();

    for (int32_t k = 0; k < q->num_out; k++)
        json_array_append_new(ids, json_integer(q->out[k]));
    json_object_set_new(o, "output_ids", ids);
    json_object_set_new(o, "text", has_text ? json_stringn(q->stop.text ? q->stop.text : "",
                                                           q->stop.len)
                                            : json_null());
    const char *reason = sl_finish_reason_name(q->finish_reason);
    json_object_set_new(o, "finish_reason", reason != NULL ? json_string(reason) : json_null());
    if (r->error != NULL)
        json_object_set_new(o, "error", json_string(r->error));
    if (r->params.logprobs >= 0)
        json_object_set_new(o, "logprobs", sl_gen_logprobs_json(q, r->params.logprobs));
    return o;
}

static int sl_gen_print(const sl_gen_args_t *a, const sl_request_t *r, bool has_text,
                        const sl_engine_stats_t *st)
{
    if (!a->json) {
        for (int32_t i = 0; i < r->params.n; i++) {
            const sl_sequence_t *q = &r->seqs[i];
            if (r->params.n > 1)
                printf("--- %d ---\n", i);
            if (has_text) {
                fwrite(q->stop.text ? q->stop.text : "", 1, q->stop.len, stdout);
            } else {
                for (int32_t k = 0; k < q->num_out; k++)
                    printf("%s%d", k ? "," : "", q->out[k]);
            }
            putchar('\n');
        }
    } else {
        json_t *o;
        if (r->params.n == 1) {
            o = sl_gen_choice_json(r, &r->seqs[0], has_text);
        } else {
            json_t *choices = json_array();
            for (int32_t i = 0; i < r->params.n; i++) {
                json_t *c = sl_gen_choice_json(r, &r->seqs[i], has_text);
                json_object_set_new(c, "index", json_integer(i));
                json_array_append_new(choices, c);
            }
            o = json_pack("{so}", "choices", choices);
        }
        if (a->usage && o != NULL) {
            sl_request_latency_t lat;
            int64_t completion = 0;
            sl_request_latency(r, &lat);
            for (int32_t i = 0; i < r->params.n; i++)
                completion += r->seqs[i].num_out;
            double decode = lat.e2e - lat.ttft;
            json_object_set_new(o, "usage",
                                json_pack("{sisIsi}", "prompt_tokens", r->prompt_len,
                                          "completion_tokens", (json_int_t)completion,
                                          "cached_tokens", r->cached_tokens));
            json_object_set_new(
                o, "timing",
                json_pack("{sfsfsfsfsfsfsI}", "queue_s", lat.queue, "ttft_s", lat.ttft,
                          "itl_mean_s", lat.itl_mean, "itl_max_s", lat.itl_max, "e2e_s",
                          lat.e2e, "decode_tokens_per_s",
                          decode > 0 && completion > r->params.n
                              ? (double)(completion - r->params.n) / decode : 0.0,
                          "steps", (json_int_t)st->steps));
        }
        char *text = o != NULL ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text == NULL) {
            sl_error("generate: the result cannot be written as JSON (text not UTF-8?)");
            return SL_EXIT_FAILURE;
        }
        puts(text);
        free(text);
    }
    return fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
}

/* ---- the run ----------------------------------------------------------------------- */

/* The tokenizer of DIR when it has one (NULL otherwise, not an error). */
static sl_status_t sl_gen_tokenizer(const char *dir, sl_tok_t **tok_p)
{
    char path[4096];
    struct stat st;

    *tok_p = NULL;
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    if (stat(path, &st) != 0)
        return SL_OK;
    return sl_tok_load(dir, tok_p);
}

/* KV blocks: --kv-cache-memory over the bytes of a block in all TP ranks
 * (float32 on the CPU); by default no more than the request can use. */
static sl_status_t sl_gen_blocks(const sl_gen_args_t *a, const sl_model_t *m, int32_t plen,
                                 int32_t *blocks_p)
{
    uint64_t per_token = sl_model_kv_bytes_per_token(m, sizeof(float)) * (uint64_t)m->tp;
    int32_t blocks;
    sl_status_t s = sl_kv_blocks_for_bytes(a->kv_bytes ? a->kv_bytes : SL_GEN_DEFAULT_KV,
                                           per_token, a->page_size, &blocks);

    if (s != SL_OK)
        return s;
    if (a->kv_bytes == 0) {
        int64_t need = ((int64_t)plen + a->sp.max_tokens + a->page_size - 1) / a->page_size;
        need *= a->sp.n;
        blocks = need < blocks ? (int32_t)need : blocks;
    }
    *blocks_p = blocks;
    return SL_OK;
}

static int sl_generate_run(int argc, char **argv)
{
    sl_gen_args_t a;
    sl_model_t *m = NULL;
    sl_tok_t *tok = NULL;
    sl_backend_t *be = NULL;
    sl_engine_t *eng = NULL;
    sl_request_t *r = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    sl_gen_config_t gc;
    int status = sl_gen_parse(argc, argv, &a);

    if (status != SL_EXIT_OK)
        goto out;
    if (a.ids_text != NULL) {
        long k = sl_gen_parse_ids(a.ids_text, &ids);
        if (k < 0) {
            status = sl_gen_usage("--ids '%.40s': expected comma-separated token ids",
                                  a.ids_text);
            goto out;
        }
        n = (size_t)k;
    }
    status = SL_EXIT_FAILURE;
    if (sl_model_load(a.dir, &a.model, &m) != SL_OK || sl_gen_tokenizer(a.dir, &tok) != SL_OK ||
        sl_gen_config_load(a.dir, &gc) != SL_OK)
        goto out;
    if (a.prompt != NULL) {
        if (tok == NULL) {
            sl_error("%s has no tokenizer.json: give the prompt as --ids", a.dir);
            goto out;
        }
        if (sl_tok_encode(tok, a.prompt, strlen(a.prompt), true, &ids, &n) != SL_OK)
            goto out;
    }
    if (tok != NULL)
        sl_gen_config_add_eos(&gc, sl_tok_eos_id(tok));
    int32_t blocks;
    if (sl_gen_blocks(&a, m, (int32_t)n, &blocks) != SL_OK)
        goto out;
    sl_backend_options_t bo = {.threads = a.threads, .block_size = a.page_size,
                               .num_blocks = blocks};
    a.eo.eos = gc.eos;
    a.eo.num_eos = gc.num_eos;
    if (sl_cpu_backend_create(m, &bo, &be) != SL_OK ||
        sl_engine_create(be, tok, m->config, &a.eo, &eng) != SL_OK)
        goto out;
    if (n > INT32_MAX || sl_engine_submit(eng, 0, ids, (int32_t)n, &a.sp) != SL_OK) {
        status = SL_EXIT_USAGE; /* bad ids or sampling parameters, already said */
        goto out;
    }
    if (sl_engine_run(eng) != SL_OK || (r = sl_engine_poll(eng)) == NULL)
        goto out;
    sl_engine_stats_t st;
    sl_engine_get_stats(eng, &st);
    status = sl_gen_print(&a, r, tok != NULL, &st);
    if (status == SL_EXIT_OK && r->seqs[0].finish_reason == SL_FINISH_ERROR)
        status = SL_EXIT_FAILURE;
out:
    sl_request_free(r);
    sl_engine_free(eng);
    sl_backend_destroy(be);
    sl_tok_free(tok);
    sl_model_free(m);
    free(ids);
    sl_sampling_params_release(&a.sp);
    return status;
}

const sl_cli_command_t sl_cmd_generate = {
    .name = "generate",
    .summary = "generate text for one prompt through the engine (CPU)",
    .usage =
        "Usage: slinfer generate --model DIR (--prompt TEXT | --ids ID,ID,...) [OPTIONS]\n"
        "\n"
        "Run one request through the engine -- scheduler, paged KV cache with prefix\n"
        "caching, chunked prefill, sampler, stop conditions -- on the CPU backend and\n"
        "print the generated text (the ids when the model has no tokenizer), or JSON.\n"
        "--prompt is tokenized with the model's tokenizer, special tokens (BOS) added\n"
        "as its post-processor says. EOS ids come from generation_config.json (else\n"
        "config.json) and the tokenizer.\n"
        "\n"
        "Sampling:\n"
        "  --max-tokens N            tokens to generate at most (default 128)\n"
        "  --min-tokens N            no EOS or stop before N tokens (default 0)\n"
        "  --temperature T           0 is greedy (default 1)\n"
        "  --top-p P, --top-k K, --min-p P   filters (default off)\n"
        "  --repetition-penalty R    HF-style, over prompt and output (default 1)\n"
        "  --presence-penalty P, --frequency-penalty F   OpenAI-style (default 0)\n"
        "  --seed N                  reproducible sampling\n"
        "  --stop TEXT               stop string, not returned (repeatable)\n"
        "  --stop-token-id ID        stop token (repeatable)\n"
        "  --ignore-eos              do not stop at EOS\n"
        "  --logprobs N              logprobs of the raw model distribution, with the\n"
        "                            N (0..20) most likely alternatives (JSON only)\n"
        "  -n N                      N completions sharing the prompt's KV blocks\n"
        "\n"
        "Engine:\n"
        "  --tp N                    tensor-parallel rank threads (default 1)\n"
        "  --threads N               compute threads in all (default: SLINFER_THREADS,\n"
        "                            else the CPUs available)\n"
        "  --page-size N             tokens per KV block (default 16)\n"
        "  --kv-cache-memory BYTES   KV cache of all ranks, e.g. 512M (default: what the\n"
        "                            request needs, at most 256M)\n"
        "  --max-running-requests N  sequences running at once (default 256)\n"
        "  --chunked-prefill-size N  prefill chunk, -1 for none (default 2048)\n"
        "  --max-prefill-tokens N    prefill tokens per step (default 16384)\n"
        "  --disable-prefix-cache, --disable-radix-cache   no prefix caching\n"
        "  --load-format FORMAT      auto (safetensors) or dummy (random weights)\n"
        "\n"
        "Output:\n"
        "  --json                    {\"output_ids\": [...], \"text\": ..., \"finish_reason\": ...}\n"
        "                            (with -n > 1: {\"choices\": [...]})\n"
        "  --usage                   with --json: token counts and timing (TTFT, ...)\n",
    .run = sl_generate_run,
};
