/* cmd_generate.c - `slinfer generate`: one request through the whole engine
 * (scheduler, paged KV cache, sampler, stop conditions) on the CPU backend. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_flags.h"
#include "core/log.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

#define SL_GEN_MAX_IDS (1 << 20)

typedef struct sl_gen_args {
    sl_cli_engine_args_t e; /* model and engine */
    sl_sampling_params_t sp;
    const char *prompt, *ids_text;
    int json, usage;
} sl_gen_args_t;

#define sl_gen_usage(...) sl_cli_usage_error("generate", __VA_ARGS__)

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
        if (!sl_cli_parse_long(buf, 0, INT32_MAX, &v)) {
            free(ids);
            return -1;
        }
        ids[k] = (int32_t)v;
        p += len + (p[len] == ',');
    }
    *ids_p = ids;
    return n;
}

static int sl_gen_parse(int argc, char **argv, sl_gen_args_t *a)
{
    const char *v;

    memset(a, 0, sizeof(*a));
    sl_cli_engine_args_init(&a->e);
    sl_sampling_params_init(&a->sp);
    for (int i = 1; i < argc; i++) {
        int taken = sl_cli_engine_flag("generate", argc, argv, &i, &a->e);
        if (taken == 0)
            taken = sl_cli_sampling_flag("generate", argc, argv, &i, &a->sp);
        if (taken < 0)
            return SL_EXIT_USAGE;
        if (taken > 0)
            continue;
        if (sl_cli_flag(argc, argv, &i, "--prompt", &v)) {
            if ((a->prompt = v) == NULL)
                return sl_gen_usage("%s needs a text", "--prompt");
        } else if (sl_cli_flag(argc, argv, &i, "--ids", &v)) {
            if ((a->ids_text = v) == NULL)
                return sl_gen_usage("%s needs token ids, e.g. 1,2,3", "--ids");
        } else if (strcmp(argv[i], "--json") == 0) {
            a->json = 1;
        } else if (strcmp(argv[i], "--usage") == 0) {
            a->usage = 1;
        } else {
            return sl_gen_usage("unknown argument '%s'", argv[i]);
        }
    }
    if (a->e.model_dir == NULL || (a->prompt == NULL) == (a->ids_text == NULL))
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

static int sl_generate_run(int argc, char **argv)
{
    sl_gen_args_t a;
    sl_runtime_t *rt = NULL;
    sl_request_t *r = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
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
    if (sl_runtime_open(&a.e, &rt) != SL_OK)
        goto out;
    if (a.prompt != NULL) {
        if (rt->tok == NULL) {
            sl_error("%s has no tokenizer.json: give the prompt as --ids", a.e.model_dir);
            goto out;
        }
        if (sl_tok_encode(rt->tok, a.prompt, strlen(a.prompt), true, &ids, &n) != SL_OK)
            goto out;
    }
    if (n > INT32_MAX || sl_engine_submit(rt->engine, 0, ids, (int32_t)n, &a.sp) != SL_OK) {
        status = SL_EXIT_USAGE; /* bad ids or sampling parameters, already said */
        goto out;
    }
    if (sl_engine_run(rt->engine) != SL_OK || (r = sl_engine_poll(rt->engine)) == NULL)
        goto out;
    sl_engine_stats_t st;
    sl_engine_get_stats(rt->engine, &st);
    status = sl_gen_print(&a, r, rt->tok != NULL, &st);
    if (status == SL_EXIT_OK && r->seqs[0].finish_reason == SL_FINISH_ERROR)
        status = SL_EXIT_FAILURE;
out:
    sl_request_free(r);
    sl_runtime_close(rt);
    free(ids);
    sl_sampling_params_release(&a.sp);
    return status;
}

const sl_cli_command_t sl_cmd_generate = {
    .name = "generate",
    .summary = "generate text for one prompt through the engine",
    .usage =
        "Usage: slinfer generate --model DIR (--prompt TEXT | --ids ID,ID,...) [OPTIONS]\n"
        "\n"
        "Run one request through the engine -- scheduler, paged KV cache with prefix\n"
        "caching, chunked prefill, sampler, stop conditions -- on the CPU or CUDA backend\n"
        "(--device) and print the generated text (the ids when the model has no\n"
        "tokenizer), or JSON.\n"
        "--prompt is tokenized with the model's tokenizer, special tokens (BOS) added\n"
        "as its post-processor says. EOS ids come from generation_config.json (else\n"
        "config.json) and the tokenizer.\n"
        "\n"
        SL_CLI_SAMPLING_USAGE
        "\n" SL_CLI_ENGINE_USAGE
        "\n"
        "Output:\n"
        "  --json                    {\"output_ids\": [...], \"text\": ..., \"finish_reason\": ...}\n"
        "                            (with -n > 1: {\"choices\": [...]})\n"
        "  --usage                   with --json: token counts and timing (TTFT, ...)\n",
    .run = sl_generate_run,
};
