/* check_engine_kv.c - the KV block manager (free list, reference counts,
 * prefix keys, LRU eviction), the scheduler on requests without a model
 * (chunking, decode priority, preemption of the youngest, prefix hits), and
 * packing step plans. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/kv_cache.h"
#include "engine/scheduler.h"
#include "engine/step_plan.h"
#include "model_check.h"
#include "sl_check.h"

START_TEST(blocks_and_refcounts)
{
    sl_kv_t *kv;
    int32_t b[4], x;

    ck_assert_int_eq(sl_kv_create(3, 4, true, &kv), SL_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sl_kv_alloc(kv, &b[i]), SL_OK);
        ck_assert_int_eq(b[i], i); /* handed out in order */
    }
    ck_assert_int_eq(sl_kv_available(kv), 0);
    ck_assert_int_eq(sl_kv_alloc(kv, &x), SL_ERR_NO_MEMORY);
    sl_kv_ref(kv, b[1]);
    sl_kv_unref(kv, b[1]);
    ck_assert_int_eq(sl_kv_available(kv), 0); /* still one user */
    sl_kv_unref(kv, b[1]);
    ck_assert_int_eq(sl_kv_available(kv), 1);
    ck_assert_int_eq(sl_kv_alloc(kv, &x), SL_OK);
    ck_assert_int_eq(x, 1);
    ck_assert_int_eq(sl_kv_check(kv), SL_OK);
    sl_kv_free(kv);

    int32_t blocks;
    ck_assert_int_eq(sl_kv_blocks_for_bytes(1 << 20, 1024, 16, &blocks), SL_OK);
    ck_assert_int_eq(blocks, 64);
    mc_log_begin();
    ck_assert_int_eq(sl_kv_blocks_for_bytes(1000, 1024, 16, &blocks), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "holds no block of 16 tokens");
}
END_TEST

START_TEST(prefix_keys_and_lru)
{
    sl_kv_t *kv;
    const int32_t t1[2] = {5, 6}, t2[2] = {7, 8}, t3[2] = {5, 6};
    int32_t a, b, c, x;

    ck_assert_int_eq(sl_kv_create(3, 2, true, &kv), SL_OK);
    /* keys chain: the same tokens after a different prefix are another key */
    uint64_t k1 = sl_kv_hash(0, t1, 2), k2 = sl_kv_hash(k1, t2, 2), k3 = sl_kv_hash(k2, t3, 2);
    ck_assert(k1 != k3);
    ck_assert(k1 == sl_kv_hash(0, t3, 2));
    sl_kv_alloc(kv, &a);
    sl_kv_alloc(kv, &b);
    sl_kv_alloc(kv, &c);
    sl_kv_publish(kv, a, 0, k1, t1);
    sl_kv_publish(kv, b, k1, k2, t2);
    sl_kv_publish(kv, c, k2, k3, t3);
    /* in use: a lookup shares it */
    ck_assert_int_eq(sl_kv_lookup(kv, 0, k1, t1), a);
    sl_kv_unref(kv, a);
    /* a wrong parent or wrong tokens never match, whatever the key */
    ck_assert_int_eq(sl_kv_lookup(kv, 1, k1, t1), -1);
    ck_assert_int_eq(sl_kv_lookup(kv, 0, k1, t2), -1);
    /* freed (deepest first, as the scheduler does): cached, reusable */
    sl_kv_unref(kv, c);
    sl_kv_unref(kv, b);
    sl_kv_unref(kv, a);
    sl_kv_stats_t st;
    sl_kv_get_stats(kv, &st);
    ck_assert_int_eq(st.cached_blocks, 3);
    ck_assert_int_eq(st.free_blocks, 3);
    ck_assert_int_eq(sl_kv_lookup(kv, 0, k1, t1), a); /* a leaves the LRU */
    /* allocation evicts the least recently used: c, then b */
    ck_assert_int_eq(sl_kv_alloc(kv, &x), SL_OK);
    ck_assert_int_eq(x, c);
    ck_assert_int_eq(sl_kv_lookup(kv, k2, k3, t3), -1);
    ck_assert_int_eq(sl_kv_lookup(kv, k1, k2, t2), b);
    sl_kv_unref(kv, b);
    ck_assert_int_eq(sl_kv_check(kv), SL_OK);
    sl_kv_get_stats(kv, &st);
    ck_assert_uint_eq(st.evictions, 1);
    /* a key already published stays with its block */
    sl_kv_publish(kv, x, 0, k1, t1);
    sl_kv_unref(kv, x);
    ck_assert_int_eq(sl_kv_lookup(kv, 0, k1, t1), a);
    ck_assert_int_eq(sl_kv_check(kv), SL_OK);
    sl_kv_free(kv);

    /* prefix caching off: nothing is kept */
    ck_assert_int_eq(sl_kv_create(2, 2, false, &kv), SL_OK);
    sl_kv_alloc(kv, &a);
    sl_kv_publish(kv, a, 0, k1, t1);
    ck_assert_int_eq(sl_kv_lookup(kv, 0, k1, t1), -1);
    sl_kv_unref(kv, a);
    sl_kv_get_stats(kv, &st);
    ck_assert_int_eq(st.cached_blocks, 0);
    sl_kv_free(kv);
}
END_TEST

/* ---- the scheduler, without a model ----------------------------------------------- */

static uint64_t next_order;

static sl_request_t *make_req(uint64_t id, int32_t len, int32_t max_tokens, int32_t first)
{
    sl_sampling_params_t p;
    sl_request_t *r;
    int32_t *ids = malloc((size_t)len * sizeof(int32_t));

    for (int32_t i = 0; i < len; i++)
        ids[i] = first + i;
    sl_sampling_params_init(&p);
    p.max_tokens = max_tokens;
    ck_assert_int_eq(sl_request_create(id, ids, len, &p, NULL, false, &r), SL_OK);
    r->seqs[0].order = next_order++ << 10;
    free(ids);
    return r;
}

/* Runs the plan "for real": commit, then a token for each sequence that
 * reached its end. */
static void run_plan(sl_sched_t *s, sl_sched_plan_t *plan)
{
    sl_sched_commit(s, plan);
    for (int32_t i = 0; i < plan->num_entries; i++) {
        sl_sequence_t *q = plan->entries[i].seq;
        if (plan->entries[i].logits) {
            sl_sample_result_t res = {.token = 1000 + q->num_out};
            bool stopped;
            ck_assert_int_eq(sl_seq_append(q, &res, false, false, 0, &stopped), SL_OK);
        }
    }
}

static const sl_sched_entry_t *entry_of(const sl_sched_plan_t *plan, const sl_request_t *r)
{
    for (int32_t i = 0; i < plan->num_entries; i++)
        if (plan->entries[i].seq->req == r)
            return &plan->entries[i];
    return NULL;
}

/* A block manager and a scheduler over it. */
typedef struct sched_rig {
    sl_kv_t *kv;
    sl_sched_t *s;
    sl_sched_plan_t plan;
} sched_rig_t;

static void sched_open(sched_rig_t *g, int32_t blocks, int32_t chunk, int32_t budget)
{
    sl_sched_options_t o = {.max_running = 8, .chunked_prefill_size = chunk,
                            .max_prefill_tokens = budget};
    memset(g, 0, sizeof(*g));
    ck_assert_int_eq(sl_kv_create(blocks, 4, true, &g->kv), SL_OK);
    ck_assert_int_eq(sl_sched_create(g->kv, &o, &g->s), SL_OK);
}

/* Frees the scheduler and the requests (R: [n]) whose sequences it may still link. */
static void sched_close(sched_rig_t *g, sl_request_t **r, int n)
{
    for (int i = 0; i < n; i++)
        sl_request_free(r[i]);
    sl_sched_plan_free(&g->plan);
    sl_sched_free(g->s);
    sl_kv_free(g->kv);
}

START_TEST(chunks_and_decode_priority)
{
    sched_rig_t g;
    sched_open(&g, 64, 8, 12);
    sl_sched_t *s = g.s;
    sl_kv_t *kv = g.kv;
    sl_sched_plan_t *plan = &g.plan;
    sl_request_t *a = make_req(1, 5, 10, 0), *b = make_req(2, 30, 10, 100);
    sl_sched_add(s, &a->seqs[0]);
    sl_sched_add(s, &b->seqs[0]);
    /* step 1: a whole (5), b a chunk of the remaining budget (7) */
    ck_assert_int_eq(sl_sched_build(s, plan), SL_OK);
    ck_assert_int_eq(plan->num_entries, 2);
    ck_assert_int_eq(entry_of(plan, a)->num_tokens, 5);
    ck_assert(entry_of(plan, a)->logits);
    ck_assert_int_eq(entry_of(plan, b)->num_tokens, 7);
    ck_assert(!entry_of(plan, b)->logits);
    run_plan(s, plan);
    /* then: a decodes every step, b goes on in chunks of 8, budget 12 */
    int32_t b_done = 7;
    for (int step = 0; step < 4; step++) {
        ck_assert_int_eq(sl_sched_build(s, plan), SL_OK);
        ck_assert_int_eq(entry_of(plan, a)->num_tokens, 1);
        ck_assert_int_eq(plan->decode_tokens, b_done < 30 ? 1 : 2);
        const sl_sched_entry_t *eb = entry_of(plan, b);
        int32_t want = 30 - b_done < 8 ? 30 - b_done : 8;
        if (b_done < 30) {
            ck_assert_int_eq(eb->start, b_done);
            ck_assert_int_eq(eb->num_tokens, want);
            b_done += want;
        }
        run_plan(s, plan);
    }
    ck_assert_int_eq(b->seqs[0].num_out, 2); /* prompt done at the third, then a decode */
    ck_assert_int_eq(a->seqs[0].num_out, 5);
    sl_sched_remove(s, &a->seqs[0]);
    sl_sched_remove(s, &b->seqs[0]);
    sl_kv_stats_t st;
    sl_kv_get_stats(kv, &st);
    ck_assert_int_eq(st.free_blocks, 64);
    ck_assert_int_eq(sl_kv_check(kv), SL_OK);
    sched_close(&g, (sl_request_t *[]){a, b}, 2);
}
END_TEST

START_TEST(preemption_of_the_youngest)
{
    /* 4 blocks of 4: a and b (4 tokens each) fit, one block each; growing
     * past 4 tokens each needs 4 blocks in all, then 6 */
    sched_rig_t g;
    sched_open(&g, 4, 64, 64);
    sl_sched_t *s = g.s;
    sl_kv_t *kv = g.kv;
    sl_sched_plan_t *plan = &g.plan;
    sl_request_t *a = make_req(1, 4, 12, 0), *b = make_req(2, 4, 12, 50);
    sl_sched_add(s, &a->seqs[0]);
    sl_sched_add(s, &b->seqs[0]);
    int preempted = 0, a_steps = 0;
    for (int step = 0; step < 40 && (a->seqs[0].num_out < 12 || b->seqs[0].num_out < 12);
         step++) {
        ck_assert_int_eq(sl_sched_build(s, plan), SL_OK);
        ck_assert_int_gt(plan->num_entries, 0);
        preempted += plan->num_preempted;
        /* the oldest is never the victim */
        ck_assert_int_eq(a->seqs[0].num_preemptions, 0);
        a_steps += entry_of(plan, a) != NULL;
        run_plan(s, plan);
        for (int k = 0; k < 2; k++) {
            sl_sequence_t *q = k ? &b->seqs[0] : &a->seqs[0];
            if (q->state == SL_SEQ_RUNNING && q->num_out == 12)
                sl_sched_remove(s, q), q->state = SL_SEQ_FINISHED;
        }
        ck_assert_int_eq(sl_kv_check(kv), SL_OK);
    }
    ck_assert_int_eq(a->seqs[0].num_out, 12);
    ck_assert_int_eq(b->seqs[0].num_out, 12);
    ck_assert_int_gt(preempted, 0);
    ck_assert_int_gt(b->seqs[0].num_preemptions, 0);
    ck_assert_uint_eq(sl_sched_num_preemptions(s), (uint64_t)preempted);
    ck_assert_int_eq(a_steps, 12); /* a ran every step until done */
    sched_close(&g, (sl_request_t *[]){a, b}, 2);
}
END_TEST

START_TEST(prefix_hits)
{
    sched_rig_t g;
    sched_open(&g, 16, 64, 64);
    sl_sched_t *s = g.s;
    sl_kv_t *kv = g.kv;
    sl_sched_plan_t *plan = &g.plan;
    /* a: 10 tokens; b: the same 8 first tokens then others; c: exactly a's 8 */
    sl_request_t *a = make_req(1, 10, 4, 0), *b = make_req(2, 12, 4, 0),
                 *c = make_req(3, 8, 4, 0);
    b->prompt[8] = 77;
    sl_sched_add(s, &a->seqs[0]);
    ck_assert_int_eq(sl_sched_build(s, plan), SL_OK);
    run_plan(s, plan); /* a's two full blocks are published */
    sl_sched_add(s, &b->seqs[0]);
    sl_sched_add(s, &c->seqs[0]);
    ck_assert_int_eq(sl_sched_build(s, plan), SL_OK);
    const sl_sched_entry_t *eb = entry_of(plan, b), *ec = entry_of(plan, c);
    ck_assert_int_eq(eb->start, 8); /* two blocks found */
    ck_assert_int_eq(eb->num_tokens, 4);
    ck_assert_int_eq(b->seqs[0].blocks[0], a->seqs[0].blocks[0]);
    ck_assert_int_eq(b->seqs[0].blocks[1], a->seqs[0].blocks[1]);
    ck_assert_int_eq(b->cached_tokens, 8);
    /* c is all cached, but its last token must run for its logits: 1 block hit */
    ck_assert_int_eq(ec->start, 4);
    ck_assert_int_eq(ec->num_tokens, 4);
    ck_assert_int_ne(c->seqs[0].blocks[1], a->seqs[0].blocks[1]);
    sl_kv_stats_t st;
    sl_kv_get_stats(kv, &st);
    ck_assert_uint_eq(st.query_tokens, 10 + 12 + 8);
    ck_assert_uint_eq(st.hit_tokens, 8 + 4);
    sched_close(&g, (sl_request_t *[]){a, b, c}, 3);
}
END_TEST

/* ---- step plans ---------------------------------------------------------------------- */

START_TEST(plan_pack_unpack)
{
    const int32_t t0[] = {3, 1, 4}, t1[] = {9};
    const sl_batch_seq_t seqs[] = {{.num_tokens = 3, .start_pos = 0, .num_blocks = 3,
                                    .block_table = t0},
                                   {.num_tokens = 2, .start_pos = 7, .num_blocks = 1,
                                    .block_table = t1}};
    const int32_t tokens[] = {10, 11, 12, 13, 14}, idx[] = {2, 4};
    /* static: zeroed padding, so the bytes compare */
    static const sl_sample_row_t rows[2] = {{.temperature = 0.5f, .top_k = 3, .seed = 1ull << 40,
                                      .stream = 5, .counter = 9, .num_samples = 2},
                                     {.temperature = 0, .logprobs = 4, .num_samples = 1}};
    sl_step_plan_t plan = {.step = 77, .batch = {.num_seqs = 2, .seqs = seqs, .num_tokens = 5,
                                                 .tokens = tokens, .num_logits = 2,
                                                 .logit_indices = idx},
                           .rows = rows};
    size_t size = sl_step_plan_size(&plan);
    char *buf = malloc(size), *buf2 = malloc(size);
    sl_step_plan_t *out, *out2;

    ck_assert_uint_eq(size % 8, 0);
    ck_assert_int_eq(sl_step_plan_pack(&plan, buf, size), SL_OK);
    ck_assert_int_eq(sl_step_plan_unpack(buf, size, &out), SL_OK);
    ck_assert_uint_eq(out->step, 77);
    ck_assert_int_eq(out->batch.num_seqs, 2);
    ck_assert_int_eq(out->batch.seqs[1].start_pos, 7);
    ck_assert_int_eq(out->batch.seqs[0].block_table[2], 4);
    ck_assert_int_eq(out->batch.seqs[1].block_table[0], 9);
    ck_assert_mem_eq(out->batch.tokens, tokens, sizeof(tokens));
    ck_assert_mem_eq(out->batch.logit_indices, idx, sizeof(idx));
    ck_assert_mem_eq(out->rows, rows, sizeof(rows));
    /* packing the unpacked plan gives the same bytes */
    ck_assert_int_eq(sl_step_plan_pack(out, buf2, size), SL_OK);
    ck_assert_mem_eq(buf, buf2, size);
    ck_assert_int_eq(sl_step_plan_unpack(buf2, size, &out2), SL_OK);
    sl_step_plan_free(out2);

    /* truncated, foreign or inconsistent buffers are errors */
    mc_log_begin();
    ck_assert_int_eq(sl_step_plan_unpack(buf, size - 8, &out2), SL_ERR_FORMAT);
    ck_assert_int_eq(sl_step_plan_unpack(buf, 10, &out2), SL_ERR_FORMAT);
    buf2[0] ^= 1;
    ck_assert_int_eq(sl_step_plan_unpack(buf2, size, &out2), SL_ERR_FORMAT);
    buf2[0] ^= 1;
    /* sequence 0 claims 5 blocks: more than the 4 entries */
    int32_t bad = 5;
    memcpy(buf2 + 32 + sizeof(rows) + 16 + 8, &bad, 4);
    ck_assert_int_eq(sl_step_plan_unpack(buf2, size, &out2), SL_ERR_FORMAT);
    mc_assert_logged(mc_log_end(), "packed batch: sequence 0: 3 tokens, 5 blocks");
    sl_step_plan_free(out);
    free(buf);
    free(buf2);
}
END_TEST

static Suite *kv_suite(void)
{
    Suite *s = suite_create("engine_kv");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, blocks_and_refcounts);
    tcase_add_test(tc, prefix_keys_and_lru);
    tcase_add_test(tc, chunks_and_decode_priority);
    tcase_add_test(tc, preemption_of_the_youngest);
    tcase_add_test(tc, prefix_hits);
    tcase_add_test(tc, plan_pack_unpack);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(kv_suite)
