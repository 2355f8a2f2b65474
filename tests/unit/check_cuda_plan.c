/* check_cuda_plan.c - the host-side choices of the CUDA backend, which run
 * without a GPU (so in CI, where every GPU test skips): how many key splits
 * the decode attention takes (sl_cuda_attention_splits: the batch-1
 * long-context choices measured in docs/PERFORMANCE.md, and its limits over
 * a grid of shapes), the batch-1 GEMVs' balanced residency (TP > 1), the
 * split workspace, and the layout of a step's packed
 * tables (sl_cuda_layout: 16-byte aligned, in order, never overlapping). */
#include "config.h"

#include <stdint.h>

#include "backend/cuda/cuda_internal.h"
#include "sl_check.h"

/* The decode kernel's blocks an H200 holds at once for head_dim 128: 3 an SM
 * (68 KB of shared memory each) on 132 SMs. */
enum { kResident = 396, kMinKeys = SL_CUDA_ATTN_MIN_SPLIT_KEYS };

/* Llama-3.1-8B's attention: 32 query heads, 8 KV heads, head_dim 128. */
static int splits_8b(int tokens, int64_t keys)
{
    return sl_cuda_attention_splits(tokens, 32, 8, 128, keys, kResident);
}

START_TEST(batch_one_splits_long_contexts)
{
    /* 8 blocks a token at batch 1: as many splits as keys allow, up to 32 */
    ck_assert_int_eq(splits_8b(1, 4096), SL_CUDA_ATTN_MAX_SPLITS);
    ck_assert_int_eq(splits_8b(1, 16000), SL_CUDA_ATTN_MAX_SPLITS);
    ck_assert_int_eq(splits_8b(1, 384), 384 / kMinKeys);
    ck_assert_int_eq(splits_8b(1, 130), 3);
    ck_assert_int_eq(splits_8b(1, 50), 1); /* less than one split's keys */
    /* enough blocks without splitting */
    ck_assert_int_eq(splits_8b(64, 384), 1);
    ck_assert_int_eq(splits_8b(256, 1500), 1);
    ck_assert_int_eq(splits_8b(512, 700), 1);
}
END_TEST

START_TEST(small_batches_split_within_one_wave)
{
    /* measured fastest (PERFORMANCE, session 6): 8 tokens (64 blocks) in 4
     * splits, 16 in 2, 32 in 1, at 1000-4000 keys; the earlier rule (two
     * waves over the SMs) took 5 (8 in a graph), 3 (4) and 2 */
    for (int64_t keys = 1000; keys <= 4000; keys *= 2) {
        ck_assert_int_eq(splits_8b(8, keys), 4);
        ck_assert_int_eq(splits_8b(16, keys), 2);
        ck_assert_int_eq(splits_8b(32, keys), 1);
    }
    /* rounded up to a power of two (graphs) the grid stays within the wave */
    for (int tokens = 1; tokens <= 64; tokens++)
        for (int64_t keys = 64; keys <= 1 << 16; keys *= 2) {
            const int s = splits_8b(tokens, keys);
            int up = 1;
            while (up < s)
                up *= 2;
            ck_assert_msg(s == 1 || (int64_t)tokens * 8 * up <= kResident,
                          "%d tokens x %lld keys: %d splits, %d in a graph", tokens,
                          (long long)keys, s, up);
        }
}
END_TEST

START_TEST(splits_stay_within_their_limits)
{
    static const int shapes[][3] = {
        {32, 8, 128}, {28, 4, 128}, {8, 1, 64}, {16, 16, 16}, {4, 2, 256}, {64, 8, 128},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        for (int tokens = 1; tokens <= 1024; tokens *= 2)
            for (int64_t keys = 1; keys <= 1 << 20; keys *= 3) {
                const int h = shapes[i][0], kv = shapes[i][1], hd = shapes[i][2];
                const int s = sl_cuda_attention_splits(tokens, h, kv, hd, keys, kResident);
                const int64_t useful = (keys + kMinKeys - 1) / kMinKeys;
                ck_assert_msg(s >= 1 && s <= SL_CUDA_ATTN_MAX_SPLITS,
                              "%d x %d/%d/%d, %lld keys: %d splits", tokens, h, kv, hd,
                              (long long)keys, s);
                ck_assert_msg(s == 1 || s <= useful, "%d splits of %lld keys", s,
                              (long long)keys);
                /* a batch of more than half a wave of blocks (at least one
                 * a token and KV head) is never split */
                if (2 * (int64_t)tokens * kv > kResident)
                    ck_assert_int_eq(s, 1);
            }
    ck_assert_int_eq(sl_cuda_attention_splits(0, 32, 8, 128, 4096, kResident), 1);
}
END_TEST

/* The batch-1 GEMVs' balanced launches at TP > 1 (gpu/gemv.cuh): the
 * shares of the grids of one Llama-3.1-8B TP 2 rank and of TP 1 at 6 blocks
 * an SM (40 registers, 8 warps), and shared memory that enforces them. */
START_TEST(gemv_balanced_residency)
{
    enum { kSms = 132, kPerSm = 6, kSmemPerSm = 233472, kReserved = 1024 };
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(384, kPerSm, kSms), 3);  /* QKV, TP 2 */
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(512, kPerSm, kSms), 4);  /* O, down */
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(896, kPerSm, kSms), 4);  /* gate/up: 2 waves */
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(768, kPerSm, kSms), 6);  /* QKV, TP 1 */
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(1792, kPerSm, kSms), 5); /* gate/up, TP 1 */
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(1, kPerSm, kSms), 1);
    ck_assert_int_eq(sl_cuda_gemv_balanced_blocks(100, 0, kSms), 0);
    for (int64_t grid = 1; grid <= 20000; grid += 37) {
        const int cap = sl_cuda_gemv_balanced_blocks(grid, kPerSm, kSms);
        const int64_t all = (int64_t)kPerSm * kSms, waves = (grid + all - 1) / all;
        /* no more waves than at full occupancy, never above it */
        ck_assert_int_ge(cap, 1);
        ck_assert_int_le(cap, kPerSm);
        ck_assert_int_le((grid + (int64_t)cap * kSms - 1) / ((int64_t)cap * kSms), waves);
    }
    for (int cap = 1; cap < kPerSm; cap++) {
        const size_t pad = sl_cuda_gemv_balance_smem(cap, kSmemPerSm, kReserved);
        /* cap blocks fit with up to 1 KB of static shared memory, cap + 1 do not */
        ck_assert_uint_le((size_t)cap * (pad + 1024 + kReserved), (size_t)kSmemPerSm);
        ck_assert_uint_gt((size_t)(cap + 1) * (pad + kReserved), (size_t)kSmemPerSm);
    }
}
END_TEST

START_TEST(split_workspace)
{
    ck_assert_uint_eq(sl_cuda_attention_workspace_floats(64, 32, 128, 1), 0);
    /* [tokens, heads, splits] parts of head_dim floats, and their (max, sum) */
    ck_assert_uint_eq(sl_cuda_attention_workspace_floats(3, 32, 128, 4),
                      (size_t)3 * 32 * 4 * (128 + 2));
}
END_TEST

START_TEST(step_tables_do_not_overlap)
{
    static const int32_t cases[][6] = {
        /* tokens, seqs, logits, decode, tiles, block entries */
        {1, 1, 1, 1, 0, 1},    {3, 1, 1, 0, 1, 7},       {512, 512, 512, 512, 0, 40000},
        {8192, 3, 3, 1, 66, 600}, {0, 0, 0, 0, 0, 0}, {5, 2, 0, 3, 1, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const int32_t *c = cases[i];
        sl_cuda_layout_t l;
        sl_cuda_layout(c[0], c[1], c[2], c[3], c[4], c[5], &l);
        /* in layout order: offset, bytes */
        const size_t at[][2] = {
            {l.tokens, (size_t)c[0] * 4},        {l.positions, (size_t)c[0] * 4},
            {l.seq_of, (size_t)c[0] * 4},        {l.slots, (size_t)c[0] * 8},
            {l.block_offset, (size_t)c[1] * 4},  {l.logit_rows, (size_t)c[2] * 4},
            {l.decode_tokens, (size_t)c[3] * 4}, {l.tiles, (size_t)c[4] * 16},
            {l.block_tables, (size_t)c[5] * 4},
        };
        size_t end = 0;
        for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
            ck_assert_msg(at[k][0] % 16 == 0, "case %zu table %zu at %zu", i, k, at[k][0]);
            ck_assert_msg(at[k][0] >= end, "case %zu table %zu overlaps the one before", i, k);
            end = at[k][0] + at[k][1];
        }
        ck_assert_uint_ge(l.bytes, end);
        ck_assert_uint_lt(l.bytes, end + 16);
    }
}
END_TEST

static Suite *cuda_plan_suite(void)
{
    Suite *s = suite_create("cuda_plan");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, batch_one_splits_long_contexts);
    tcase_add_test(tc, small_batches_split_within_one_wave);
    tcase_add_test(tc, gemv_balanced_residency);
    tcase_add_test(tc, splits_stay_within_their_limits);
    tcase_add_test(tc, split_workspace);
    tcase_add_test(tc, step_tables_do_not_overlap);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(cuda_plan_suite)
