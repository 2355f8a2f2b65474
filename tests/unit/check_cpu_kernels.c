/* check_cpu_kernels.c - the CPU kernels one by one: RoPE frequencies of every
 * type (values worked out next to each case), rotation, matmul over each
 * stored dtype and strided shards, embedding, SwiGLU, the thread pool, and
 * paged attention against a dense float64 attention. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/threadpool.h"
#include "core/bf16.h"
#include "sl_check.h"

static sl_rope_config_t rope_config(sl_rope_type_t type, int dim)
{
    return (sl_rope_config_t){.type = type, .rotary_dim = dim, .theta = 10000.0, .factor = 1.0,
                              .attention_factor = 1.0, .inv_freq_dtype = SL_DTYPE_F32};
}

START_TEST(rope_default_and_linear)
{
    /* dim 4: 10000^(-0/4) = 1, 10000^(-2/4) = 0.01; linear factor 4 divides */
    sl_rope_config_t c = rope_config(SL_ROPE_DEFAULT, 4);
    float inv[4];
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[0], 1.0, 0);
    sl_ck_assert_close(inv[1], 0.01, 1e-9);
    c.type = SL_ROPE_LINEAR;
    c.factor = 4;
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[0], 0.25, 0);
    sl_ck_assert_close(inv[1], 0.0025, 1e-10);
}
END_TEST

START_TEST(rope_llama3)
{
    /* dim 8: base [1, 0.1, 0.01, 0.001], wavelengths 2pi/inv = [6.28, 62.8, 628, 6283];
     * original 1000, low/high freq factor 1/4: wavelengths < 250 stay, > 1000 are
     * divided by 8, and 628 is smoothed: s = (1000/628.32 - 1) / 3 = 0.197183,
     * (1 - s) * 0.01 / 8 + s * 0.01 = 0.0029753525 */
    sl_rope_config_t c = rope_config(SL_ROPE_LLAMA3, 8);
    float inv[4];
    c.factor = 8;
    c.low_freq_factor = 1;
    c.high_freq_factor = 4;
    c.original_max_position = 1000;
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[0], 1.0, 0);
    sl_ck_assert_close(inv[1], 0.1, 1e-8);
    sl_ck_assert_close(inv[2], 0.0029753525, 1e-9);
    sl_ck_assert_close(inv[3], 0.000125, 1e-11);
}
END_TEST

START_TEST(rope_yarn)
{
    /* dim 8, factor 4, original 64, beta 32/1: correction dims
     * 8 ln(64 / (32 * 2pi)) / (2 ln 10000) = -0.497 -> floor -> 0, and
     * 8 ln(64 / 2pi) / (2 ln 10000) = 1.008 -> ceil -> 2. Ramp (i - 0) / 2 =
     * [0, 0.5, 1, 1], extrapolation weight 1 - ramp = [1, 0.5, 0, 0]:
     * inv = [1, 0.5 * 0.1 + 0.5 * 0.025, 0.01 / 4, 0.001 / 4] */
    sl_rope_config_t c = rope_config(SL_ROPE_YARN, 8);
    float inv[4];
    c.factor = 4;
    c.original_max_position = 64;
    c.beta_fast = 32;
    c.beta_slow = 1;
    c.truncate = 1;
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[0], 1.0, 1e-7);
    sl_ck_assert_close(inv[1], 0.0625, 1e-8);
    sl_ck_assert_close(inv[2], 0.0025, 1e-9);
    sl_ck_assert_close(inv[3], 0.00025, 1e-10);

    /* the attention factor scales cos and sin: position 0 gives the factor */
    sl_rope_table_t *t;
    c.attention_factor = 1.1386294;
    ck_assert_int_eq(sl_rope_table_create(&c, 3, &t), SL_OK);
    sl_ck_assert_close(t->cos[0], 1.1386294, 1e-6);
    sl_ck_assert_close(t->sin[0], 0.0, 0);
    sl_rope_table_free(t);
}
END_TEST

START_TEST(rope_frequencies_rounded_like_the_model)
{
    /* 10000^(-2/6) = 0.0464158883 = 1.48531 * 2^-5; in bf16 (7 fraction bits)
     * 1.484375 * 2^-5 = 0.046386719 */
    sl_rope_config_t c = rope_config(SL_ROPE_DEFAULT, 6);
    float inv[3];
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[1], 0.0464158883, 1e-8);
    c.inv_freq_dtype = SL_DTYPE_BF16;
    sl_rope_inv_freq(&c, inv);
    sl_ck_assert_close(inv[1], 0.046386719, 1e-9);
}
END_TEST

START_TEST(rope_rotates_halves)
{
    /* x = [1, 2, 3, 4] at position 1, angles [1, 0.01]; pairs (x0, x2), (x1, x3):
     * x0' = cos1 - 3 sin1 = -1.98411065, x2' = 3 cos1 + sin1 = 2.46237790,
     * x1' = 2 cos.01 - 4 sin.01 = 1.95990067, x3' = 4 cos.01 + 2 sin.01 = 4.01979967.
     * Position 0 leaves x alone. */
    sl_rope_config_t c = rope_config(SL_ROPE_DEFAULT, 4);
    sl_rope_table_t *t;
    float x[2][4] = {{1, 2, 3, 4}, {1, 2, 3, 4}};
    int32_t pos[2] = {1, 0};

    ck_assert_int_eq(sl_rope_table_create(&c, 2, &t), SL_OK);
    sl_cpu_rope(&x[0][0], pos, 2, 1, 4, t);
    sl_ck_assert_close(x[0][0], -1.98411065, 1e-6);
    sl_ck_assert_close(x[0][1], 1.95990067, 1e-6);
    sl_ck_assert_close(x[0][2], 2.46237790, 1e-6);
    sl_ck_assert_close(x[0][3], 4.01979967, 1e-6);
    for (int i = 0; i < 4; i++)
        sl_ck_assert_close(x[1][i], i + 1, 0);
    sl_rope_table_free(t);
}
END_TEST

/* A uniform value in [-1, 1) from a simple generator. */
static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*s >> 40) * 0x1p-23f - 1.0f;
}

static void store(void *dst, sl_dtype_t dtype, size_t i, float v)
{
    if (dtype == SL_DTYPE_BF16)
        ((uint16_t *)dst)[i] = sl_float_to_bf16(v);
    else if (dtype == SL_DTYPE_F16)
        ((uint16_t *)dst)[i] = sl_float_to_f16(v);
    else
        ((float *)dst)[i] = v;
}

START_TEST(matmul_dtypes_strides_threads)
{
    static const sl_dtype_t dtypes[] = {SL_DTYPE_BF16, SL_DTYPE_F16, SL_DTYPE_F32};
    enum { ROWS = 5, N_FULL = 37, K_FULL = 1100, COL0 = 13, K = 1030 };
    uint64_t seed = 1;
    static float x[ROWS * K], bias[N_FULL], wf[N_FULL * K_FULL];
    static float out1[ROWS * N_FULL], out3[ROWS * N_FULL];
    static unsigned char raw[N_FULL * K_FULL * 4];
    sl_cpu_pool_t *pool;

    ck_assert_int_eq(sl_cpu_pool_create(3, &pool), SL_OK);
    ck_assert_int_eq(sl_cpu_pool_threads(pool), 3);
    for (size_t i = 0; i < ROWS * K; i++)
        x[i] = frand(&seed);
    for (size_t i = 0; i < N_FULL; i++)
        bias[i] = frand(&seed);
    for (size_t d = 0; d < 3; d++) {
        for (size_t i = 0; i < N_FULL * K_FULL; i++) {
            store(raw, dtypes[d], i, frand(&seed));
            sl_dtype_to_f32(&wf[i], raw + i * sl_dtype_size(dtypes[d]), dtypes[d], 1);
        }
        /* columns [COL0, COL0 + K) of the full [N_FULL, K_FULL]: a row-parallel shard */
        sl_weight_t w = {.dtype = dtypes[d], .rows = N_FULL, .cols = K, .ld = K_FULL,
                         .data = raw + COL0 * sl_dtype_size(dtypes[d])};
        sl_cpu_matmul(NULL, out1, x, &w, bias, ROWS);
        sl_cpu_matmul(pool, out3, x, &w, bias, ROWS);
        /* the thread split does not change a bit */
        ck_assert_int_eq(memcmp(out1, out3, sizeof(out1)), 0);
        for (size_t t = 0; t < ROWS; t++) {
            for (size_t o = 0; o < N_FULL; o++) {
                double ref = bias[o];
                for (size_t k = 0; k < K; k++)
                    ref += (double)x[t * K + k] * (double)wf[o * K_FULL + COL0 + k];
                sl_ck_assert_close(out1[t * N_FULL + o], ref, 2e-5 * sqrt((double)K));
            }
        }
    }
    sl_cpu_pool_free(pool);
}
END_TEST

START_TEST(embedding_outside_the_shard_is_zero)
{
    /* rows of ids [10, 12) of a dim-2 table in f32 */
    float table[4] = {1, 2, 3, 4}, out[3 * 2];
    int32_t tokens[3] = {11, 9, 10};
    sl_weight_t w = {.dtype = SL_DTYPE_F32, .rows = 2, .cols = 2, .ld = 2, .data = table};
    sl_cpu_embedding(out, tokens, 3, &w, 10);
    sl_ck_assert_close(out[0], 3, 0);
    sl_ck_assert_close(out[1], 4, 0);
    sl_ck_assert_close(out[2], 0, 0);
    sl_ck_assert_close(out[3], 0, 0);
    sl_ck_assert_close(out[4], 1, 0);
    sl_ck_assert_close(out[5], 2, 0);
}
END_TEST

START_TEST(silu_mul_and_bias)
{
    /* silu(0) = 0; silu(1) = 1 / (1 + e^-1) = 0.7310586; silu(-2) = -2 / (1 + e^2) =
     * -0.2384058 */
    float g[3] = {0, 1, -2}, u[3] = {5, 2, -1};
    float x[4] = {1, 2, 3, 4}, b[2] = {0.5f, -1};
    sl_cpu_silu_mul(g, g, u, 3);
    sl_ck_assert_close(g[0], 0, 0);
    sl_ck_assert_close(g[1], 1.4621172, 1e-6);
    sl_ck_assert_close(g[2], 0.2384058, 1e-6);
    sl_cpu_add_bias(x, b, 2, 2);
    sl_ck_assert_close(x[0], 1.5, 0);
    sl_ck_assert_close(x[3], 3, 0);
}
END_TEST

static int hits[1000];
static void count_part(void *arg, size_t begin, size_t end)
{
    (void)arg;
    for (size_t i = begin; i < end; i++)
        __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
}

START_TEST(parallel_for_covers_once)
{
    sl_cpu_pool_t *pool;
    ck_assert_int_eq(sl_cpu_pool_create(4, &pool), SL_OK);
    for (size_t n = 0; n <= 1000; n += 37) {
        for (size_t grain = 1; grain < 400; grain *= 7) {
            memset(hits, 0, sizeof(hits));
            sl_cpu_parallel_for(pool, n, grain, count_part, NULL);
            for (size_t i = 0; i < 1000; i++)
                ck_assert_int_eq(hits[i], i < n ? 1 : 0);
        }
    }
    sl_cpu_pool_free(pool);
    ck_assert_int_ge(sl_cpu_default_threads(), 1);
    setenv("SLINFER_THREADS", "3", 1);
    ck_assert_int_eq(sl_cpu_default_threads(), 3);
}
END_TEST

/* ---- paged attention against a dense float64 one ------------------------------ */

enum { HEADS = 4, KV = 2, HD = 8, BS = 4, NBLOCKS = 16, MAXPOS = 20 };

/* Logical K/V of 3 sequences: [seq][pos][kv][hd]. */
static float kv_k[3][MAXPOS][KV][HD], kv_v[3][MAXPOS][KV][HD];

static void dense_attention(double *out, const float *q, int seq, int pos, int head,
                            int64_t window)
{
    int kvh = head / (HEADS / KV);
    int lo = window > 0 && pos - window + 1 > 0 ? (int)(pos - window + 1) : 0;
    double scores[MAXPOS], max = -INFINITY, sum = 0;

    for (int p = lo; p <= pos; p++) {
        double s = 0;
        for (int i = 0; i < HD; i++)
            s += (double)q[i] * kv_k[seq][p][kvh][i];
        scores[p] = s / sqrt((double)HD);
        max = scores[p] > max ? scores[p] : max;
    }
    for (int i = 0; i < HD; i++)
        out[i] = 0;
    for (int p = lo; p <= pos; p++) {
        double w = exp(scores[p] - max);
        sum += w;
        for (int i = 0; i < HD; i++)
            out[i] += w * kv_v[seq][p][kvh][i];
    }
    for (int i = 0; i < HD; i++)
        out[i] /= sum;
}

static void check_paged_attention(int64_t window, int threads)
{
    /* seq 0: prefill 9 tokens from 0; seq 1: decode at 13; seq 2: chunk of 5 at 6 */
    static const int32_t num[3] = {9, 1, 5}, start[3] = {0, 13, 6};
    /* physical blocks, shuffled and interleaved between sequences */
    static const int32_t tables[3][5] = {{7, 2, 12}, {0, 9, 4, 14}, {11, 3, 5, 1}};
    static const int32_t nblocks[3] = {3, 4, 4};
    static float kc[NBLOCKS * BS * KV * HD], vc[NBLOCKS * BS * KV * HD];
    float q[15 * HEADS * HD], k_new[15 * KV * HD], v_new[15 * KV * HD], out[15 * HEADS * HD];
    int32_t tokens[15] = {0}, positions[15], seq_of[15];
    int64_t slots[15];
    sl_batch_seq_t seqs[3];
    uint64_t seed = 99 + (uint64_t)window;
    sl_cpu_pool_t *pool = NULL;

    for (int s = 0; s < 3; s++) {
        seqs[s] = (sl_batch_seq_t){.num_tokens = num[s], .start_pos = start[s],
                                   .num_blocks = nblocks[s], .block_table = tables[s]};
        for (int p = 0; p < MAXPOS; p++)
            for (int h = 0; h < KV; h++)
                for (int i = 0; i < HD; i++) {
                    kv_k[s][p][h][i] = frand(&seed);
                    kv_v[s][p][h][i] = frand(&seed);
                }
    }
    sl_batch_t batch = {.num_seqs = 3, .seqs = seqs, .num_tokens = 15, .tokens = tokens};
    sl_batch_limits_t lim = {.block_size = BS, .num_blocks = NBLOCKS, .vocab_size = 1,
                             .max_position = MAXPOS};
    ck_assert_int_eq(sl_batch_validate(&batch, &lim), SL_OK);
    sl_batch_positions(&batch, positions, seq_of);
    sl_batch_slots(&batch, positions, seq_of, BS, slots);

    /* earlier positions already cached: written at their slots directly */
    memset(kc, 0, sizeof(kc));
    memset(vc, 0, sizeof(vc));
    for (int s = 0; s < 3; s++)
        for (int p = 0; p < start[s]; p++) {
            size_t slot = (size_t)tables[s][p / BS] * BS + (size_t)(p % BS);
            memcpy(&kc[slot * KV * HD], kv_k[s][p], sizeof(kv_k[s][p]));
            memcpy(&vc[slot * KV * HD], kv_v[s][p], sizeof(kv_v[s][p]));
        }
    /* this step's tokens go through sl_cpu_kv_store */
    for (int t = 0; t < 15; t++) {
        memcpy(&k_new[t * KV * HD], kv_k[seq_of[t]][positions[t]], KV * HD * sizeof(float));
        memcpy(&v_new[t * KV * HD], kv_v[seq_of[t]][positions[t]], KV * HD * sizeof(float));
        for (int i = 0; i < HEADS * HD; i++)
            q[t * HEADS * HD + i] = 2.0f * frand(&seed);
    }
    sl_cpu_kv_store(kc, vc, k_new, v_new, slots, 15, KV, HD);

    if (threads > 1)
        ck_assert_int_eq(sl_cpu_pool_create(threads, &pool), SL_OK);
    sl_attn_params_t p = {.num_heads = HEADS, .num_kv_heads = KV, .head_dim = HD,
                          .block_size = BS, .scale = 1.0f / sqrtf((float)HD), .window = window};
    sl_cpu_paged_attention(pool, out, q, kc, vc, &batch, positions, seq_of, &p);
    sl_cpu_pool_free(pool);

    for (int t = 0; t < 15; t++) {
        for (int h = 0; h < HEADS; h++) {
            double ref[HD];
            dense_attention(ref, &q[(t * HEADS + h) * HD], seq_of[t], positions[t], h, window);
            for (int i = 0; i < HD; i++)
                sl_ck_assert_close(out[(t * HEADS + h) * HD + i], ref[i], 2e-6);
        }
    }
}

START_TEST(paged_attention_matches_dense)
{
    check_paged_attention(0, 1);
    check_paged_attention(0, 3);
}
END_TEST

START_TEST(paged_attention_sliding_window)
{
    check_paged_attention(3, 1);
    check_paged_attention(5, 2);
    check_paged_attention(1, 1); /* each token sees itself only */
}
END_TEST

START_TEST(batch_validation)
{
    int32_t table[2] = {0, 1}, tokens[3] = {1, 2, 3}, idx[2] = {2, 1};
    sl_batch_seq_t seq = {.num_tokens = 3, .start_pos = 4, .num_blocks = 2, .block_table = table};
    sl_batch_t b = {.num_seqs = 1, .seqs = &seq, .num_tokens = 3, .tokens = tokens};
    sl_batch_limits_t lim = {.block_size = 4, .num_blocks = 2, .vocab_size = 4,
                             .max_position = 100};

    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_OK);
    seq.start_pos = 6; /* positions 6..8 need 3 blocks */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
    seq.start_pos = 4;
    table[1] = 2; /* beyond the cache */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
    table[1] = 1;
    tokens[1] = 4; /* outside the vocabulary */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
    tokens[1] = 2;
    b.num_logits = 2;
    b.logit_indices = idx; /* not increasing */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
    b.num_logits = 1;
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_OK);
    b.num_tokens = 2; /* disagrees with the sequences */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
    b.num_tokens = 3;
    lim.max_position = 7; /* positions 4..6 are < 7 */
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_OK);
    lim.max_position = 6;
    ck_assert_int_eq(sl_batch_validate(&b, &lim), SL_ERR_INVALID_ARG);
}
END_TEST

static Suite *cpu_kernels_suite(void)
{
    Suite *s = suite_create("cpu_kernels");
    TCase *tc = tcase_create("rope");
    tcase_add_test(tc, rope_default_and_linear);
    tcase_add_test(tc, rope_llama3);
    tcase_add_test(tc, rope_yarn);
    tcase_add_test(tc, rope_frequencies_rounded_like_the_model);
    tcase_add_test(tc, rope_rotates_halves);
    suite_add_tcase(s, tc);
    tc = tcase_create("dense");
    tcase_add_test(tc, matmul_dtypes_strides_threads);
    tcase_add_test(tc, embedding_outside_the_shard_is_zero);
    tcase_add_test(tc, silu_mul_and_bias);
    tcase_add_test(tc, parallel_for_covers_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("attention");
    tcase_add_test(tc, paged_attention_matches_dense);
    tcase_add_test(tc, paged_attention_sliding_window);
    tcase_add_test(tc, batch_validation);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(cpu_kernels_suite)
