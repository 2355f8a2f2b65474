/* check_model_golden.c - the CPU backend against HuggingFace transformers:
 * the float64 logits in ../shared/fixtures/models/tiny-{llama3,llama2,qwen2,
 * qwen3}/golden.safetensors, for every position of prompt 0 and the last
 * position of every prompt, at TP 1, 2 and 4. Criterion of issue 4:
 * max |delta logit| / max |reference| <= 1e-4. Skips (77) without fixtures. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "model_check.h"
#include "sl_check.h"

#define TOLERANCE 1e-4

static const char *const models[] = {"tiny-llama3", "tiny-llama2", "tiny-qwen2", "tiny-qwen3"};
#define NUM_MODELS (sizeof(models) / sizeof(models[0]))

static char fixtures[1024];

/* The golden tensor NAME, float32 [count], copied (the mapping may not be
 * aligned for floats). Valid until the next call. */
static const float *golden(const sl_st_file_t *g, const char *name, size_t count)
{
    static float *copy;
    const sl_st_tensor_t *t = sl_st_find(g, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", g->path, name);
    ck_assert_int_eq(t->dtype, SL_DTYPE_F32);
    ck_assert_uint_eq(t->numel, count);
    free(copy);
    copy = malloc(count * sizeof(float));
    memcpy(copy, sl_st_tensor_data(g, t), count * sizeof(float));
    return copy;
}

static void check_model(const char *name, int tp)
{
    char dir[1200], path[1300];
    json_t *root, *prompts;
    json_error_t jerr;
    sl_st_file_t *g;
    double worst_all = 0, worst_last = 0;

    snprintf(dir, sizeof(dir), "%s/models/%s", fixtures, name);
    snprintf(path, sizeof(path), "%s/golden.json", dir);
    root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
    prompts = json_object_get(root, "prompts");
    snprintf(path, sizeof(path), "%s/golden.safetensors", dir);
    ck_assert_int_eq(sl_st_open(path, &g), SL_OK);

    sl_model_t *m = mc_load(dir, tp);
    size_t vocab = (size_t)m->config->vocab_size, np = json_array_size(prompts);
    int32_t *ids[16];
    int32_t lens[16], total = 0;
    ck_assert_uint_le(np, 16);
    for (size_t p = 0; p < np; p++) {
        json_t *a = json_array_get(prompts, p);
        lens[p] = (int32_t)json_array_size(a);
        ids[p] = malloc((size_t)lens[p] * sizeof(int32_t));
        for (int32_t i = 0; i < lens[p]; i++)
            ids[p][i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
        total += lens[p];
    }

    /* prompt 0, every position, alone */
    float *l0 = mc_prompt_logits(m, ids[0], lens[0], 2);
    worst_all = mc_rel_error(l0, golden(g, "prompt0_logits", (size_t)lens[0] * vocab),
                             (size_t)lens[0] * vocab);
    free(l0);

    /* every prompt in one batch, last positions */
    int32_t bs = 16, nb = 0, *tables = malloc(sizeof(int32_t) * (size_t)(total / bs + 16));
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)total), idx[16];
    sl_batch_seq_t seqs[16];
    float *last = malloc(np * vocab * sizeof(float));
    for (size_t p = 0, t = 0; p < np; p++) {
        int32_t need = (lens[p] + bs - 1) / bs;
        seqs[p] = (sl_batch_seq_t){.num_tokens = lens[p], .start_pos = 0, .num_blocks = need,
                                   .block_table = tables + nb};
        for (int32_t i = 0; i < need; i++, nb++)
            tables[nb] = nb;
        memcpy(tokens + t, ids[p], (size_t)lens[p] * sizeof(int32_t));
        t += (size_t)lens[p];
        idx[p] = (int32_t)t - 1;
    }
    sl_backend_t *be = mc_backend(m, bs, nb, 2);
    sl_batch_t batch = {.num_seqs = (int32_t)np, .seqs = seqs, .num_tokens = total,
                        .tokens = tokens, .num_logits = (int32_t)np, .logit_indices = idx};
    ck_assert_int_eq(sl_backend_forward(be, &batch, last), SL_OK);
    for (size_t p = 0; p < np; p++) {
        char tname[64];
        snprintf(tname, sizeof(tname), "prompt%zu_last_logits", p);
        double e = mc_rel_error(last + p * vocab, golden(g, tname, vocab), vocab);
        worst_last = e > worst_last ? e : worst_last;
    }
    printf("%-12s TP %d: max |dlogit| / max |ref|: prompt 0 all positions %.3g, "
           "last positions of %zu prompts %.3g\n",
           name, tp, worst_all, np, worst_last);
    fflush(stdout);
    ck_assert_msg(worst_all <= TOLERANCE && worst_last <= TOLERANCE,
                  "%s TP %d: errors %g, %g exceed %g", name, tp, worst_all, worst_last,
                  TOLERANCE);

    sl_backend_destroy(be);
    free(last);
    free(tokens);
    free(tables);
    for (size_t p = 0; p < np; p++)
        free(ids[p]);
    sl_model_free(m);
    sl_st_close(g);
    json_decref(root);
}

START_TEST(matches_transformers)
{
    static const int tps[] = {1, 2, 4};
    check_model(models[_i / 3], tps[_i % 3]);
}
END_TEST

static Suite *golden_suite(void)
{
    Suite *s = suite_create("model_golden");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, matches_transformers, 0, (int)NUM_MODELS * 3);
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
