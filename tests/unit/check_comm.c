/* check_comm.c - the thread collectives: results, their determinism across
 * ranks, uneven gathers, size mismatches, and many rounds in a row (races). */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "comm/comm.h"
#include "model_check.h"
#include "sl_check.h"

#define MAX_RANKS 8
#define N 1000

typedef struct {
    sl_comm_group_t *group;
    int rank, size, rounds;
    int failures;
} rank_arg_t;

/* Rank R's contribution to element I in round K: not exactly representable
 * sums, so the order of summation shows in the bits. */
static float value(int r, size_t i, int k)
{
    return (float)(r + 1) * 0.1f + (float)i * 1e-3f + (float)k * 0.37f;
}

static void *reduce_rank(void *p)
{
    rank_arg_t *a = p;
    sl_comm_t *comm = sl_comm_group_rank(a->group, a->rank);
    static float results[MAX_RANKS][N];
    float buf[N];

    if (sl_comm_rank(comm) != a->rank || sl_comm_size(comm) != a->size)
        a->failures++;
    for (int k = 0; k < a->rounds; k++) {
        for (size_t i = 0; i < N; i++)
            buf[i] = value(a->rank, i, k);
        if (sl_comm_all_reduce_sum_f32(comm, buf, N) != SL_OK)
            a->failures++;
        for (size_t i = 0; i < N; i++) {
            float want = value(0, i, k); /* rank order 0, 1, ... */
            for (int r = 1; r < a->size; r++)
                want += value(r, i, k);
            if (memcmp(&buf[i], &want, sizeof(float)) != 0)
                a->failures++;
        }
        memcpy(results[a->rank], buf, sizeof(buf));
        sl_comm_barrier(comm);
        /* every rank holds the same bits */
        if (memcmp(results[a->rank], results[0], sizeof(buf)) != 0)
            a->failures++;
        sl_comm_barrier(comm);
    }
    return NULL;
}

static void run_ranks(int size, int rounds, void *(*fn)(void *))
{
    sl_comm_group_t *g;
    pthread_t threads[MAX_RANKS];
    rank_arg_t args[MAX_RANKS];

    ck_assert_int_eq(sl_comm_group_create(size, &g), SL_OK);
    for (int r = 0; r < size; r++) {
        args[r] = (rank_arg_t){.group = g, .rank = r, .size = size, .rounds = rounds};
        ck_assert_int_eq(pthread_create(&threads[r], NULL, fn, &args[r]), 0);
    }
    for (int r = 0; r < size; r++) {
        pthread_join(threads[r], NULL);
        ck_assert_int_eq(args[r].failures, 0);
    }
    sl_comm_group_free(g);
}

START_TEST(all_reduce_sums_in_rank_order)
{
    static const int sizes[] = {1, 2, 3, 4, 7, 8};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        run_ranks(sizes[i], 50, reduce_rank);
}
END_TEST

static void *gather_rank(void *p)
{
    rank_arg_t *a = p;
    sl_comm_t *comm = sl_comm_group_rank(a->group, a->rank);
    size_t counts[MAX_RANKS], total = 0;
    float send[16], recv[16 * MAX_RANKS];

    for (int r = 0; r < a->size; r++) {
        counts[r] = (size_t)(r * 5 % 7); /* 0, 5, 3, 1, 6, ...: uneven, some empty */
        total += counts[r];
    }
    for (int k = 0; k < a->rounds; k++) {
        for (size_t i = 0; i < counts[a->rank]; i++)
            send[i] = (float)(100 * a->rank + (int)i + k);
        memset(recv, 0xff, sizeof(recv));
        /* odd ranks do not want the result */
        if (sl_comm_all_gatherv_f32(comm, send, counts, a->rank % 2 ? NULL : recv) != SL_OK)
            a->failures++;
        if (a->rank % 2 == 0) {
            size_t at = 0;
            for (int r = 0; r < a->size; r++)
                for (size_t i = 0; i < counts[r]; i++, at++)
                    if (recv[at] != (float)(100 * r + (int)i + k))
                        a->failures++;
            if (at != total)
                a->failures++;
        }
        /* broadcast from a rotating root */
        int root = k % a->size;
        int word[3] = {a->rank, k, -1};
        if (sl_comm_broadcast(comm, root, word, sizeof(word)) != SL_OK || word[0] != root ||
            word[1] != k)
            a->failures++;
    }
    return NULL;
}

START_TEST(gather_and_broadcast)
{
    for (int size = 1; size <= 5; size++)
        run_ranks(size, 40, gather_rank);
}
END_TEST

static void *mismatch_rank(void *p)
{
    rank_arg_t *a = p;
    sl_comm_t *comm = sl_comm_group_rank(a->group, a->rank);
    float buf[8] = {1, 1, 1, 1, 1, 1, 1, 1};

    /* rank 1 passes 4 elements, the others 8: all get a mismatch, none hangs */
    if (sl_comm_all_reduce_sum_f32(comm, buf, a->rank == 1 ? 4 : 8) != SL_ERR_MISMATCH)
        a->failures++;
    if (buf[0] != 1.0f)
        a->failures++;
    /* and the group still works afterwards */
    if (sl_comm_all_reduce_sum_f32(comm, buf, 8) != SL_OK || buf[7] != (float)a->size)
        a->failures++;
    return NULL;
}

START_TEST(size_mismatch_is_reported_everywhere)
{
    mc_log_begin();
    run_ranks(3, 1, mismatch_rank);
    mc_assert_logged(mc_log_end(), "all-reduce: rank 1 has 4 elements, rank 0 has 8");
}
END_TEST

START_TEST(group_limits)
{
    sl_comm_group_t *g = NULL;
    mc_log_begin();
    ck_assert_int_eq(sl_comm_group_create(0, &g), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "communicator of 0 ranks");
    ck_assert_int_eq(sl_comm_group_create(2, &g), SL_OK);
    ck_assert_ptr_null(sl_comm_group_rank(g, 2));
    ck_assert_ptr_null(sl_comm_group_rank(g, -1));
    sl_comm_group_free(g);
}
END_TEST

static Suite *comm_suite(void)
{
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("threads");
    tcase_add_test(tc, all_reduce_sums_in_rank_order);
    tcase_add_test(tc, gather_and_broadcast);
    tcase_add_test(tc, size_mismatch_is_reported_everywhere);
    tcase_add_test(tc, group_limits);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(comm_suite)
