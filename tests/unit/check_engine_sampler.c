/* check_engine_sampler.c - the sampler's pure steps against hand
 * computations: penalties, temperature, top-k/top-p/min-p, argmax ties,
 * softmax and the categorical draw, logprobs, the counter-based RNG, and
 * whole draws (seeded reproducibility, raw logprobs, min_tokens). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/request.h"
#include "engine/sampler.h"
#include "sl_check.h"

#define NEG_INF (-INFINITY)

static void assert_logits(const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++) {
        if (isinf(want[i]))
            ck_assert_msg(isinf(got[i]) && got[i] < 0, "logit %d = %g, expected -inf", i,
                          (double)got[i]);
        else
            ck_assert_msg(fabsf(got[i] - want[i]) < 1e-6f, "logit %d = %.9g, expected %.9g", i,
                          (double)got[i], (double)want[i]);
    }
}

START_TEST(repetition_penalty)
{
    /* HF: positive / 2, negative * 2, each id once even if repeated or in both lists */
    float l[5] = {2.0f, -1.0f, 0.5f, 3.0f, -0.25f};
    const int32_t prompt[] = {0, 0, 4}, out[] = {1, 0, 4};
    uint8_t seen[5] = {0};
    sl_sample_repetition_penalty(l, prompt, 3, out, 3, 2.0f, seen);
    assert_logits(l, (float[]){1.0f, -2.0f, 0.5f, 3.0f, -0.5f}, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(seen[i], 0);
}
END_TEST

START_TEST(frequency_presence_penalty)
{
    /* token 2 twice: 1 - 2 * 0.5 - 0.25; token 3 once: 1 - 0.5 - 0.25 */
    float l[4] = {1, 1, 1, 1};
    const int32_t out[] = {2, 3, 2};
    int32_t counts[4] = {0};
    sl_sample_frequency_presence(l, out, 3, 0.5f, 0.25f, counts);
    assert_logits(l, (float[]){1, 1, -0.25f, 0.25f}, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(counts[i], 0);
    /* negative penalties encourage repetition */
    float m[2] = {0, 0};
    const int32_t o2[] = {1};
    sl_sample_frequency_presence(m, o2, 1, -1.0f, -0.5f, counts);
    assert_logits(m, (float[]){0, 1.5f}, 2);
}
END_TEST

START_TEST(temperature_and_suppress)
{
    float l[3] = {2, 4, -1};
    sl_sample_temperature(l, 3, 2.0f);
    assert_logits(l, (float[]){1, 2, -0.5f}, 3);
    const int32_t ids[] = {1, 7 /* outside: ignored */};
    sl_sample_suppress(l, 3, ids, 2);
    assert_logits(l, (float[]){1, NEG_INF, -0.5f}, 3);
}
END_TEST

START_TEST(top_k)
{
    int32_t order[6];
    float a[4] = {1, 3, 3, 2};
    sl_sample_top_k(a, 4, 2, order);
    assert_logits(a, (float[]){NEG_INF, 3, 3, NEG_INF}, 4);
    /* a tie at the boundary: exactly k kept, the lower id wins */
    float b[4] = {1, 3, 2, 2};
    sl_sample_top_k(b, 4, 2, order);
    assert_logits(b, (float[]){NEG_INF, 3, 2, NEG_INF}, 4);
    float c[6] = {5, 0, 5, 5, -1, 5};
    sl_sample_top_k(c, 6, 3, order);
    assert_logits(c, (float[]){5, NEG_INF, 5, 5, NEG_INF, NEG_INF}, 6);
    /* many ties: quickselect must still keep exactly the k lowest ids */
    float d[200];
    int32_t ord[200];
    for (int i = 0; i < 200; i++)
        d[i] = (float)(i % 3);
    sl_sample_top_k(d, 200, 10, ord);
    int kept = 0;
    for (int i = 0; i < 200; i++) {
        if (!isinf(d[i])) {
            kept++;
            ck_assert_int_eq(i % 3, 2);
            ck_assert_int_le(i, 29); /* ids 2, 5, ..., 29 */
        }
    }
    ck_assert_int_eq(kept, 10);
}
END_TEST

START_TEST(top_p)
{
    int32_t order[4];
    /* probabilities 0.5, 0.3, 0.2 (token order scrambled) */
    float base[4] = {logf(0.3f), logf(0.5f), NEG_INF, logf(0.2f)};
    float l[4];

    memcpy(l, base, sizeof(l));
    sl_sample_top_p(l, 4, 0.79f, order); /* 0.5 + 0.3 reaches 0.79: drop 0.2 */
    assert_logits(l, (float[]){base[0], base[1], NEG_INF, NEG_INF}, 4);
    memcpy(l, base, sizeof(l));
    sl_sample_top_p(l, 4, 0.81f, order); /* needs all three */
    assert_logits(l, base, 4);
    memcpy(l, base, sizeof(l));
    sl_sample_top_p(l, 4, 0.5f, order); /* the top token alone is enough */
    assert_logits(l, (float[]){NEG_INF, base[1], NEG_INF, NEG_INF}, 4);
    memcpy(l, base, sizeof(l));
    sl_sample_top_p(l, 4, 0.01f, order); /* always at least one */
    assert_logits(l, (float[]){NEG_INF, base[1], NEG_INF, NEG_INF}, 4);
}
END_TEST

START_TEST(min_p)
{
    /* p = 0.5, 0.3, 0.15, 0.05; min_p 0.2: keep p >= 0.1 */
    float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    float want[4] = {l[0], l[1], l[2], NEG_INF};
    sl_sample_min_p(l, 4, 0.2f);
    assert_logits(l, want, 4);
    /* min_p 1 keeps only the maximum (and its ties) */
    float m[3] = {1, 2, 2};
    sl_sample_min_p(m, 3, 1.0f);
    assert_logits(m, (float[]){NEG_INF, 2, 2}, 3);
}
END_TEST

START_TEST(argmax_softmax_categorical)
{
    ck_assert_int_eq(sl_sample_argmax((float[]){1, 5, 5, 2}, 4), 1);
    ck_assert_int_eq(sl_sample_argmax((float[]){NEG_INF, NEG_INF}, 2), 0);
    float p[3];
    sl_sample_softmax((float[]){0, logf(3.0f), NEG_INF}, 3, p);
    sl_ck_assert_close(p[0], 0.25, 1e-7);
    sl_ck_assert_close(p[1], 0.75, 1e-7);
    ck_assert(p[2] == 0.0f);
    /* cumulative in id order: [0, 0.25) -> 0, [0.25, 1) -> 1; zero mass never drawn */
    ck_assert_int_eq(sl_sample_categorical(p, 3, 0.0), 0);
    ck_assert_int_eq(sl_sample_categorical(p, 3, 0.2499), 0);
    ck_assert_int_eq(sl_sample_categorical(p, 3, 0.25), 1);
    ck_assert_int_eq(sl_sample_categorical(p, 3, 0.999999), 1);
    /* unnormalised weights work the same */
    ck_assert_int_eq(sl_sample_categorical((float[]){0, 2, 0, 6}, 4, 0.3), 3);
    ck_assert_int_eq(sl_sample_categorical((float[]){0, 2, 0, 6}, 4, 0.2), 1);
}
END_TEST

START_TEST(logprobs)
{
    /* logits 0, ln 3, ln 3, -inf: logsumexp = ln 7 */
    float l[4] = {0, logf(3.0f), logf(3.0f), NEG_INF};
    double lse = sl_sample_logsumexp(l, 4);
    sl_ck_assert_close(lse, log(7.0), 1e-6);
    int32_t ids[SL_MAX_LOGPROBS];
    float lp[SL_MAX_LOGPROBS];
    ck_assert_int_eq(sl_sample_top_logprobs(l, 4, lse, 3, ids, lp), 3);
    ck_assert_int_eq(ids[0], 1); /* the tie: lower id first */
    ck_assert_int_eq(ids[1], 2);
    ck_assert_int_eq(ids[2], 0);
    sl_ck_assert_close(lp[0], log(3.0 / 7.0), 1e-6);
    sl_ck_assert_close(lp[2], log(1.0 / 7.0), 1e-6);
    ck_assert_int_eq(sl_sample_top_logprobs(l, 4, lse, 9, ids, lp), 4); /* capped at vocab */
    ck_assert(isinf(lp[3]));
    /* logprobs 0 asks for no alternatives: nothing read or written (this
     * once compared against ids[-1]; found by the GPU sampler's test) */
    ids[0] = -7;
    ck_assert_int_eq(sl_sample_top_logprobs(l, 4, lse, 0, ids, lp), 0);
    ck_assert_int_eq(ids[0], -7);
}
END_TEST

START_TEST(rng)
{
    /* a pure function of the key; each word matters */
    double a = sl_rng_uniform(1, 2, 3);
    ck_assert(a == sl_rng_uniform(1, 2, 3));
    ck_assert(a != sl_rng_uniform(0, 2, 3));
    ck_assert(a != sl_rng_uniform(1, 3, 3));
    ck_assert(a != sl_rng_uniform(1, 2, 4));
    ck_assert(sl_rng_uniform(1, 2, 3) != sl_rng_uniform(1, 3, 2));
    /* uniform: 10 buckets over 100000 counters, each within 4% of 10000 */
    int buckets[10] = {0};
    double sum = 0;
    for (uint64_t c = 0; c < 100000; c++) {
        double u = sl_rng_uniform(42, 7, c);
        ck_assert(u >= 0.0 && u < 1.0);
        buckets[(int)(u * 10)]++;
        sum += u;
    }
    for (int i = 0; i < 10; i++)
        ck_assert_msg(abs(buckets[i] - 10000) < 400, "bucket %d: %d", i, buckets[i]);
    sl_ck_assert_close(sum / 100000, 0.5, 0.005);
}
END_TEST

static sl_sample_row_t row_init(void)
{
    return (sl_sample_row_t){.temperature = 1.0f, .top_p = 1.0f, .repetition_penalty = 1.0f,
                             .logprobs = -1, .num_samples = 1};
}

START_TEST(draws)
{
    sl_sampler_t *s;
    ck_assert_int_eq(sl_sampler_create(4, &s), SL_OK);
    const float logits[4] = {0, logf(3.0f), NEG_INF, logf(2.0f)}; /* p = 1/6, 1/2, 0, 1/3 */
    sl_sample_history_t h = {0};
    sl_sample_row_t row = row_init();
    sl_sample_result_t r[4], r2[4];
    int counts[4] = {0};

    /* the frequencies follow the distribution; token 2 never comes */
    row.seed = 7;
    for (uint64_t c = 0; c < 30000; c++) {
        row.counter = c;
        sl_sampler_sample(s, logits, &row, &h, r);
        counts[r[0].token]++;
    }
    ck_assert_int_eq(counts[2], 0);
    sl_ck_assert_close(counts[0] / 30000.0, 1 / 6.0, 0.01);
    sl_ck_assert_close(counts[1] / 30000.0, 1 / 2.0, 0.01);
    sl_ck_assert_close(counts[3] / 30000.0, 1 / 3.0, 0.01);

    /* reproducible: the same key gives the same token; sample j uses stream + j */
    row.counter = 99;
    row.num_samples = 4;
    sl_sampler_sample(s, logits, &row, &h, r);
    sl_sampler_sample(s, logits, &row, &h, r2);
    for (int j = 0; j < 4; j++) {
        sl_sample_row_t one = row;
        one.num_samples = 1;
        one.stream = row.stream + (uint64_t)j;
        ck_assert_int_eq(r[j].token, r2[j].token);
        sl_sampler_sample(s, logits, &one, &h, r2);
        ck_assert_int_eq(r[j].token, r2[0].token);
    }

    /* greedy: temperature 0; penalties still apply (token 1 penalised below 3) */
    row = row_init();
    row.temperature = 0;
    sl_sampler_sample(s, logits, &row, &h, r);
    ck_assert_int_eq(r[0].token, 1);
    const int32_t out[] = {1};
    h.output = out;
    h.output_len = 1;
    row.repetition_penalty = 4.0f; /* ln 3 / 4 = 0.27 < ln 2 */
    sl_sampler_sample(s, logits, &row, &h, r);
    ck_assert_int_eq(r[0].token, 3);

    /* min_tokens: the suppressed ids cannot win */
    row = row_init();
    row.temperature = 0;
    row.suppress_stop = 1;
    const int32_t eos[] = {1, 3};
    h = (sl_sample_history_t){.suppress = eos, .num_suppress = 2};
    sl_sampler_sample(s, logits, &row, &h, r);
    ck_assert_int_eq(r[0].token, 0);

    /* logprobs are the raw model's, whatever the sampling settings */
    row = row_init();
    row.temperature = 0.3f;
    row.top_k = 1;
    row.repetition_penalty = 1.7f;
    row.logprobs = 2;
    h = (sl_sample_history_t){.output = out, .output_len = 1};
    sl_sampler_sample(s, logits, &row, &h, r);
    ck_assert_int_eq(r[0].token, 3); /* ln 3 / 1.7 = 0.646 < ln 2 = 0.693: top-1 is 3 */
    sl_ck_assert_close(r[0].logprob, log(1 / 3.0), 1e-6);
    ck_assert_int_eq(r[0].num_top, 2);
    ck_assert_int_eq(r[0].top_ids[0], 1);
    sl_ck_assert_close(r[0].top_logprobs[0], log(0.5), 1e-6);
    ck_assert_int_eq(r[0].top_ids[1], 3);
    sl_sampler_free(s);
}
END_TEST

START_TEST(params_validation)
{
    sl_sampling_params_t p;
    sl_sampling_params_init(&p);
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_OK);
    p.top_p = 0;
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_ERR_INVALID_ARG);
    sl_sampling_params_init(&p);
    p.min_tokens = p.max_tokens + 1;
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_ERR_INVALID_ARG);
    sl_sampling_params_init(&p);
    p.temperature = -1;
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_ERR_INVALID_ARG);
    sl_sampling_params_init(&p);
    ck_assert_int_eq(sl_sampling_params_add_stop_id(&p, 10), SL_OK);
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_ERR_INVALID_ARG);
    sl_sampling_params_release(&p);
    ck_assert_int_eq(sl_sampling_params_add_stop(&p, ""), SL_OK);
    ck_assert_int_eq(sl_sampling_params_validate(&p, 10), SL_ERR_INVALID_ARG);
    sl_sampling_params_t q;
    ck_assert_int_eq(sl_sampling_params_add_stop(&p, "x"), SL_OK);
    ck_assert_int_eq(sl_sampling_params_copy(&q, &p), SL_OK);
    ck_assert_int_eq(q.num_stop, 2);
    ck_assert_str_eq(q.stop[1], "x");
    ck_assert_ptr_ne(q.stop[1], p.stop[1]);
    sl_sampling_params_release(&q);
    sl_sampling_params_release(&p);
}
END_TEST

static Suite *sampler_suite(void)
{
    Suite *s = suite_create("engine_sampler");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, repetition_penalty);
    tcase_add_test(tc, frequency_presence_penalty);
    tcase_add_test(tc, temperature_and_suppress);
    tcase_add_test(tc, top_k);
    tcase_add_test(tc, top_p);
    tcase_add_test(tc, min_p);
    tcase_add_test(tc, argmax_softmax_categorical);
    tcase_add_test(tc, logprobs);
    tcase_add_test(tc, rng);
    tcase_add_test(tc, draws);
    tcase_add_test(tc, params_validation);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(sampler_suite)
