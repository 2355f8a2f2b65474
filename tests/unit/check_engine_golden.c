/* check_engine_golden.c - greedy generation through the whole engine
 * (batched, paged, chunked prefill, prefix cache) against HuggingFace
 * transformers: the "greedy" continuations of
 * ../shared/fixtures/models/tiny-{llama3,llama2,qwen2,qwen3}/golden.json,
 * every step up to the first whose top-1/top-2 margin is below 1e-3 (where
 * float32 vs float64 rounding may legitimately flip the argmax), at TP 1
 * and 2. Skips (77) without fixtures. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/gen_config.h"
#include "model_check.h"
#include "sl_check.h"

#define MIN_MARGIN 1e-3
#define MAX_PROMPTS 16

static const char *const models[] = {"tiny-llama3", "tiny-llama2", "tiny-qwen2", "tiny-qwen3"};
#define NUM_MODELS (sizeof(models) / sizeof(models[0]))

static char fixtures[1024];

static int32_t *json_ids(const json_t *a, int32_t *n_p)
{
    int32_t n = (int32_t)json_array_size(a), *ids = malloc((size_t)n * sizeof(int32_t));
    for (int32_t i = 0; i < n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    *n_p = n;
    return ids;
}

static void check_model(const char *name, int tp)
{
    char dir[1200], path[1300];
    json_error_t jerr;
    sl_gen_config_t gc;
    sl_engine_options_t o;
    sl_engine_t *e;
    sl_request_t *res[MAX_PROMPTS] = {0}, *r;

    snprintf(dir, sizeof(dir), "%s/models/%s", fixtures, name);
    snprintf(path, sizeof(path), "%s/golden.json", dir);
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
    json_t *prompts = json_object_get(root, "prompts"), *greedy = json_object_get(root, "greedy");
    json_t *margins = json_object_get(root, "margins");
    size_t np = json_array_size(prompts);
    ck_assert_uint_le(np, MAX_PROMPTS);

    sl_model_t *m = mc_load(dir, tp);
    ck_assert_int_eq(sl_gen_config_load(dir, &gc), SL_OK);
    ck_assert_int_ge(gc.num_eos, 1);
    sl_backend_t *be = mc_backend(m, 8, 64, 2);
    sl_engine_options_init(&o);
    o.chunked_prefill_size = 5; /* odd chunks across the 8-slot blocks */
    o.max_prefill_tokens = 12;
    o.eos = gc.eos;
    o.num_eos = gc.num_eos;
    ck_assert_int_eq(sl_engine_create(be, NULL, m->config, &o, &e), SL_OK);
    for (size_t p = 0; p < np; p++) {
        int32_t n, *ids = json_ids(json_array_get(prompts, p), &n);
        sl_sampling_params_t sp;
        sl_sampling_params_init(&sp);
        sp.temperature = 0;
        sp.ignore_eos = true; /* the goldens run their 24 tokens through EOS */
        sp.max_tokens = (int32_t)json_array_size(json_array_get(greedy, p));
        ck_assert_int_eq(sl_engine_submit(e, p, ids, n, &sp), SL_OK);
        free(ids);
    }
    ck_assert_int_eq(sl_engine_run(e), SL_OK);
    while ((r = sl_engine_poll(e)) != NULL)
        res[r->id] = r;

    int matched = 0, compared = 0;
    for (size_t p = 0; p < np; p++) {
        int32_t n, *want = json_ids(json_array_get(greedy, p), &n);
        const json_t *mg = json_array_get(margins, p);
        const sl_sequence_t *q = &res[p]->seqs[0];
        ck_assert_int_eq(q->num_out, n);
        for (int32_t k = 0; k < n; k++) {
            if (json_real_value(json_array_get(mg, (size_t)k)) < MIN_MARGIN)
                break; /* from here on the reference itself is ambiguous */
            compared++;
            ck_assert_msg(q->out[k] == want[k], "%s TP %d prompt %zu step %d: %d, HF %d", name,
                          tp, p, k, q->out[k], want[k]);
            matched++;
        }
        free(want);
        sl_request_free(res[p]);
    }
    printf("%-12s TP %d: %d of %d greedy steps compared and matched (%zu prompts)\n", name, tp,
           matched, compared, np);
    fflush(stdout);
    ck_assert_int_gt(matched, 0);
    sl_engine_free(e);
    sl_backend_destroy(be);
    sl_model_free(m);
    json_decref(root);
}

START_TEST(greedy_matches_transformers)
{
    check_model(models[_i / 2], 1 + _i % 2);
}
END_TEST

static Suite *golden_suite(void)
{
    Suite *s = suite_create("engine_golden");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, greedy_matches_transformers, 0, (int)NUM_MODELS * 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *dir = sl_check_fixtures("models/tiny-llama3/golden.json");

    if (dir == NULL)
        return 77;
    snprintf(fixtures, sizeof(fixtures), "%s", dir);
    return sl_check_run(golden_suite());
}
