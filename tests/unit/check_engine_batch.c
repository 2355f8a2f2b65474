/* check_engine_batch.c - the engine on generated models (no fixtures):
 *  - greedy tokens equal a naive reference loop (no batching, no paging:
 *    the whole sequence recomputed every step, argmax) on Llama, Qwen3 and
 *    Mistral (sliding window) models, and logprobs equal its log-softmax;
 *  - batch invariance: 64 prompts of mixed lengths with shared prefixes, run
 *    together with chunked prefill and prefix hits, give the same greedy and
 *    seeded sampled tokens as each prompt alone;
 *  - a KV cache far too small still completes all of them (preemption), and
 *    one request that cannot fit alone fails alone, with a clear error;
 *  - n > 1, stop strings (with a real tokenizer), stop ids, EOS, min_tokens,
 *    abort, timing, step records and the step-plan hook;
 *  - a backend's own sampler (forward_sample, here the CPU backend's forward
 *    and the host sampler behind it) gives exactly the host path's tokens
 *    and logprobs, and --gpu-sampling off keeps the engine off it. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model_check.h"
#include "sl_check.h"

static const char *const configs[] = {
    "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":96,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"vocab_size\":272,\"max_position_embeddings\":512,\"rms_norm_eps\":1e-5,"
    "\"dtype\":\"bfloat16\",\"rope_theta\":10000.0}",
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":48,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"head_dim\":16,\"vocab_size\":200,\"max_position_embeddings\":512,\"rms_norm_eps\":1e-6,"
    "\"tie_word_embeddings\":true,\"dtype\":\"bfloat16\",\"rope_theta\":1000000.0}",
    "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":32,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
    "\"vocab_size\":150,\"max_position_embeddings\":512,\"rms_norm_eps\":1e-5,"
    "\"sliding_window\":9,\"dtype\":\"bfloat16\",\"rope_theta\":10000.0}",
};
#define THREADS 2

/* A model, a CPU backend and an engine over it. */
typedef struct rig {
    char dir[256];
    sl_model_t *m;
    sl_backend_t *be;
    sl_engine_t *e;
} rig_t;

static void rig_open(rig_t *r, int config, int32_t bs, int32_t blocks,
                     const sl_engine_options_t *opt, const sl_tok_t *tok)
{
    memset(r, 0, sizeof(*r));
    mc_write_model(r->dir, configs[config], 11 + (uint64_t)config, SL_DTYPE_BF16, 1);
    r->m = mc_load(r->dir, 1);
    r->be = mc_backend(r->m, bs, blocks, THREADS);
    ck_assert_int_eq(sl_engine_create(r->be, tok, r->m->config, opt, &r->e), SL_OK);
}

static void rig_close(rig_t *r)
{
    sl_engine_free(r->e);
    sl_backend_destroy(r->be);
    sl_model_free(r->m);
    mc_rmdir(r->dir);
}

/* Runs everything submitted; returns the finished requests by id ([n]). */
static void run_all(sl_engine_t *e, sl_request_t **by_id, int n)
{
    sl_request_t *r;
    ck_assert_int_eq(sl_engine_run(e), SL_OK);
    while ((r = sl_engine_poll(e)) != NULL) {
        ck_assert_uint_lt(r->id, (uint64_t)n);
        by_id[r->id] = r;
    }
}

static sl_sampling_params_t greedy(int32_t max_tokens)
{
    sl_sampling_params_t p;
    sl_sampling_params_init(&p);
    p.temperature = 0;
    p.max_tokens = max_tokens;
    return p;
}

static uint32_t lcg(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/* ---- the naive reference ------------------------------------------------------------ */

/* The greedy continuation of PROMPT by recomputing the whole sequence every
 * step in one sequence with blocks 0, 1, ... in order; out: [max_new],
 * lp: [max_new] log-softmax of each chosen token. */
static void reference_greedy(const sl_model_t *m, const int32_t *prompt, int32_t plen,
                             int32_t max_new, int32_t *out, double *lp)
{
    int32_t bs = 16, total = plen + max_new, nb = (total + bs - 1) / bs;
    int32_t vocab = (int32_t)m->config->vocab_size;
    int32_t *seq = malloc((size_t)total * sizeof(int32_t)), *table = malloc((size_t)nb * 4);
    float *logits = malloc((size_t)vocab * sizeof(float));
    sl_backend_t *be = mc_backend(m, bs, nb, THREADS);

    memcpy(seq, prompt, (size_t)plen * sizeof(int32_t));
    for (int32_t i = 0; i < nb; i++)
        table[i] = i;
    for (int32_t k = 0; k < max_new; k++) {
        int32_t n = plen + k, last = n - 1, best = 0;
        sl_batch_seq_t s = {.num_tokens = n, .start_pos = 0, .num_blocks = nb,
                            .block_table = table};
        sl_batch_t b = {.num_seqs = 1, .seqs = &s, .num_tokens = n, .tokens = seq,
                        .num_logits = 1, .logit_indices = &last};
        ck_assert_int_eq(sl_backend_forward(be, &b, logits), SL_OK);
        double sum = 0;
        for (int32_t v = 1; v < vocab; v++)
            best = logits[v] > logits[best] ? v : best;
        for (int32_t v = 0; v < vocab; v++)
            sum += exp((double)logits[v] - logits[best]);
        out[k] = seq[n] = best;
        lp[k] = -log(sum);
    }
    sl_backend_destroy(be);
    free(logits);
    free(table);
    free(seq);
}

START_TEST(matches_reference)
{
    static const int32_t lens[] = {1, 7, 23, 40};
    enum { NP = 4, NEW = 20 };
    sl_engine_options_t o;
    sl_request_t *res[NP] = {0};
    int32_t *prompts[NP], ref[NEW];
    double lp[NEW];
    uint32_t st = 5;
    rig_t r;

    sl_engine_options_init(&o);
    o.chunked_prefill_size = 8; /* the 40-token prompt takes 5 chunks */
    o.max_prefill_tokens = 24;
    rig_open(&r, _i, 4, 256, &o, NULL);
    int32_t vocab = (int32_t)r.m->config->vocab_size;
    for (int p = 0; p < NP; p++) {
        prompts[p] = malloc((size_t)lens[p] * sizeof(int32_t));
        for (int32_t i = 0; i < lens[p]; i++)
            prompts[p][i] = (int32_t)(lcg(&st) % (uint32_t)vocab);
        sl_sampling_params_t sp = greedy(NEW);
        sp.logprobs = 2;
        ck_assert_int_eq(sl_engine_submit(r.e, (uint64_t)p, prompts[p], lens[p], &sp), SL_OK);
    }
    run_all(r.e, res, NP);
    for (int p = 0; p < NP; p++) {
        const sl_sequence_t *q = &res[p]->seqs[0];
        reference_greedy(r.m, prompts[p], lens[p], NEW, ref, lp);
        ck_assert_int_eq(q->num_out, NEW);
        ck_assert_str_eq(sl_finish_reason_name(q->finish_reason), "length");
        for (int k = 0; k < NEW; k++) {
            ck_assert_msg(q->out[k] == ref[k], "%s prompt %d step %d: engine %d, reference %d",
                          r.m->config->arch_name, p, k, q->out[k], ref[k]);
            sl_ck_assert_close(q->logprobs[k], lp[k], 1e-5);
            ck_assert_int_eq(q->top_ids[2 * k], ref[k]); /* the greedy token is the top one */
        }
        sl_request_free(res[p]);
        free(prompts[p]);
    }
    printf("%s: %d prompts x %d greedy tokens equal the reference loop\n",
           r.m->config->arch_name, NP, NEW);
    rig_close(&r);
}
END_TEST

/* ---- batch invariance and preemption ---------------------------------------------------- */

enum { NB = 64 };

typedef struct workload {
    int32_t *prompt[NB + 1];
    int32_t len[NB + 1];
    sl_sampling_params_t sp[NB + 1];
} workload_t;

/* 64 prompts: 8 families sharing a prefix of 4..44 tokens, each member with
 * its own suffix of 0..40; half greedy, a quarter seeded sampling with every
 * filter and penalty, a quarter unseeded sampling (engine seed + id). */
static void make_workload(workload_t *w, int32_t vocab)
{
    uint32_t st = 17;
    for (int f = 0; f < 8; f++) {
        int32_t plen = 4 + (int32_t)(lcg(&st) % 41), prefix[44];
        for (int32_t i = 0; i < plen; i++)
            prefix[i] = (int32_t)(lcg(&st) % (uint32_t)vocab);
        for (int k = 0; k < 8; k++) {
            int p = f * 8 + k;
            int32_t slen = (int32_t)(lcg(&st) % 41);
            w->len[p] = plen + slen > 0 ? plen + slen : 1;
            w->prompt[p] = malloc((size_t)w->len[p] * sizeof(int32_t));
            memcpy(w->prompt[p], prefix, (size_t)plen * sizeof(int32_t));
            for (int32_t i = plen; i < w->len[p]; i++)
                w->prompt[p][i] = (int32_t)(lcg(&st) % (uint32_t)vocab);
            sl_sampling_params_init(&w->sp[p]);
            w->sp[p].max_tokens = 4 + (int32_t)(lcg(&st) % 21);
            w->sp[p].logprobs = 1;
            if (p % 4 < 2) {
                w->sp[p].temperature = 0;
                continue;
            }
            w->sp[p].temperature = 0.9f;
            w->sp[p].top_p = 0.95f;
            w->sp[p].top_k = 40;
            w->sp[p].min_p = 0.02f;
            w->sp[p].repetition_penalty = 1.1f;
            w->sp[p].presence_penalty = 0.2f;
            w->sp[p].frequency_penalty = 0.1f;
            if (p % 4 == 2) {
                w->sp[p].has_seed = true;
                w->sp[p].seed = 1000 + (uint64_t)p;
            }
        }
    }
}

static void free_workload(workload_t *w, int n)
{
    for (int p = 0; p < n; p++)
        free(w->prompt[p]);
}

/* Each prompt alone: no chunking, no prefix cache, a fresh engine each. The
 * KV page size stays that of the batch: it sets the blocks of the attention's
 * online softmax, so it changes float rounding (not the request's tokens, in
 * practice, but the logprobs compared bit for bit below). */
static void run_alone(const workload_t *w, sl_request_t **alone)
{
    sl_engine_options_t o;
    rig_t r;

    sl_engine_options_init(&o);
    o.chunked_prefill_size = -1;
    o.prefix_cache = false;
    rig_open(&r, 0, 4, 256, &o, NULL);
    for (int p = 0; p < NB; p++) {
        sl_engine_t *e;
        ck_assert_int_eq(sl_engine_create(r.be, NULL, r.m->config, &o, &e), SL_OK);
        ck_assert_int_eq(sl_engine_submit(e, (uint64_t)p, w->prompt[p], w->len[p], &w->sp[p]),
                         SL_OK);
        ck_assert_int_eq(sl_engine_run(e), SL_OK);
        alone[p] = sl_engine_poll(e);
        ck_assert_ptr_nonnull(alone[p]);
        sl_engine_free(e);
    }
    rig_close(&r);
}

static void assert_same(const sl_request_t *a, const sl_request_t *b, const char *what)
{
    const sl_sequence_t *qa = &a->seqs[0], *qb = &b->seqs[0];
    ck_assert_msg(qa->num_out == qb->num_out, "%s: request %llu: %d tokens, alone %d", what,
                  (unsigned long long)a->id, qa->num_out, qb->num_out);
    for (int32_t k = 0; k < qa->num_out; k++) {
        ck_assert_msg(qa->out[k] == qb->out[k], "%s: request %llu token %d: %d, alone %d", what,
                      (unsigned long long)a->id, k, qa->out[k], qb->out[k]);
        ck_assert_msg(qa->logprobs[k] == qb->logprobs[k], "%s: request %llu token %d logprob",
                      what, (unsigned long long)a->id, k);
    }
    ck_assert_int_eq(qa->finish_reason, qb->finish_reason);
}

/* The batch engine of both tests: page size 4, prefill chunks of 16 out of
 * 64 tokens a step, BLOCKS blocks. */
static void open_batch_rig(rig_t *r, int32_t blocks)
{
    sl_engine_options_t o;
    sl_engine_options_init(&o);
    o.chunked_prefill_size = 16;
    o.max_prefill_tokens = 64;
    rig_open(r, 0, 4, blocks, &o, NULL);
}

/* Submits requests 0..N-1 of W. */
static void submit_workload(sl_engine_t *e, const workload_t *w, int n)
{
    for (int p = 0; p < n; p++)
        ck_assert_int_eq(sl_engine_submit(e, (uint64_t)p, w->prompt[p], w->len[p], &w->sp[p]),
                         SL_OK);
}

START_TEST(batch_invariance)
{
    workload_t w;
    sl_request_t *alone[NB], *batch[NB] = {0};
    sl_engine_stats_t st;
    rig_t r;

    make_workload(&w, 272);
    run_alone(&w, alone);
    open_batch_rig(&r, 2048);
    submit_workload(r.e, &w, NB);
    run_all(r.e, batch, NB);
    sl_engine_get_stats(r.e, &st);
    size_t nrec, mixed = 0, chunked = 0, maxb = 0;
    const sl_step_record_t *rec = sl_engine_step_records(r.e, &nrec);
    uint64_t tokens = 0;
    for (size_t i = 0; i < nrec; i++) {
        mixed += rec[i].prefill_tokens > 0 && rec[i].decode_tokens > 0;
        chunked += rec[i].prefill_tokens == 64;
        maxb = (size_t)rec[i].num_seqs > maxb ? (size_t)rec[i].num_seqs : maxb;
        tokens += (uint64_t)(rec[i].prefill_tokens + rec[i].decode_tokens);
    }
    printf("batch of %d: %llu steps (%zu mixed prefill+decode, %zu with a full prefill "
           "budget), up to %zu sequences a step, prefix hits %llu of %llu tokens, "
           "%llu preemptions\n",
           NB, (unsigned long long)st.steps, mixed, chunked, maxb,
           (unsigned long long)st.kv.hit_tokens, (unsigned long long)st.kv.query_tokens,
           (unsigned long long)st.preemptions);
    ck_assert_uint_eq(nrec, st.steps);
    ck_assert_uint_eq(tokens, st.computed_tokens + (st.generated_tokens - NB));
    ck_assert_uint_gt(mixed, 0);
    ck_assert_uint_gt(chunked, 0);
    ck_assert_uint_gt(st.kv.hit_tokens, 100);
    ck_assert_uint_gt(maxb, 32);
    for (int p = 0; p < NB; p++) {
        assert_same(batch[p], alone[p], "batch");
        sl_request_free(batch[p]);
        sl_request_free(alone[p]);
    }
    rig_close(&r);
    free_workload(&w, NB);
}
END_TEST

START_TEST(preemption_under_a_tiny_cache)
{
    workload_t w;
    sl_request_t *alone[NB], *batch[NB + 1] = {0};
    sl_engine_stats_t st;
    rig_t r;

    make_workload(&w, 272);
    run_alone(&w, alone);
    /* the longest request needs (84 + 24 - 1) / 4 = 27 blocks; all of them
     * together about 1000: 32 blocks hold a few at a time */
    open_batch_rig(&r, 32);
    /* one more request, too long to fit alone */
    w.len[NB] = 200;
    w.prompt[NB] = calloc(200, sizeof(int32_t));
    w.sp[NB] = greedy(8);
    mc_log_begin();
    submit_workload(r.e, &w, NB + 1);
    mc_assert_logged(mc_log_end(), "request 64 cannot run: it needs 52 KV blocks (200 prompt + "
                                   "8 new tokens, 4 per block) but the whole cache has 32");
    run_all(r.e, batch, NB + 1);
    sl_engine_get_stats(r.e, &st);
    printf("tiny cache: %d blocks for %d requests: %llu steps, %llu preemptions, prefix hits "
           "%llu of %llu tokens\n",
           32, NB, (unsigned long long)st.steps, (unsigned long long)st.preemptions,
           (unsigned long long)st.kv.hit_tokens, (unsigned long long)st.kv.query_tokens);
    ck_assert_uint_gt(st.preemptions, 10);
    ck_assert_int_eq(batch[NB]->seqs[0].finish_reason, SL_FINISH_ERROR);
    ck_assert_int_eq(batch[NB]->seqs[0].num_out, 0);
    ck_assert_ptr_nonnull(strstr(batch[NB]->error, "needs 52 KV blocks"));
    sl_request_free(batch[NB]);
    for (int p = 0; p < NB; p++) {
        assert_same(batch[p], alone[p], "preempted");
        sl_request_free(batch[p]);
        sl_request_free(alone[p]);
    }
    ck_assert_int_eq(st.kv.free_blocks, 32);
    rig_close(&r);
    free_workload(&w, NB + 1);
}
END_TEST

/* ---- n > 1 ------------------------------------------------------------------------------ */

START_TEST(n_sequences)
{
    sl_engine_options_t o;
    sl_request_t *res[4] = {0};
    int32_t prompt[21];
    rig_t r;

    for (int i = 0; i < 21; i++)
        prompt[i] = (i * 37 + 3) % 272;
    sl_engine_options_init(&o);
    rig_open(&r, 0, 4, 256, &o, NULL);
    sl_sampling_params_t g1 = greedy(12), g3 = greedy(12), s1, s4;
    g3.n = 3;
    sl_sampling_params_init(&s1);
    s1.max_tokens = 12;
    s1.has_seed = true;
    s1.seed = 99;
    s4 = s1;
    s4.n = 4;
    ck_assert_int_eq(sl_engine_submit(r.e, 0, prompt, 21, &g1), SL_OK);
    ck_assert_int_eq(sl_engine_submit(r.e, 1, prompt, 21, &g3), SL_OK);
    ck_assert_int_eq(sl_engine_submit(r.e, 2, prompt, 21, &s1), SL_OK);
    ck_assert_int_eq(sl_engine_submit(r.e, 3, prompt, 21, &s4), SL_OK);
    run_all(r.e, res, 4);
    /* greedy: every sequence is the greedy one */
    for (int j = 0; j < 3; j++)
        ck_assert_mem_eq(res[1]->seqs[j].out, res[0]->seqs[0].out, 12 * sizeof(int32_t));
    /* seeded: sequence 0 is the n = 1 request with that seed; the others differ */
    ck_assert_mem_eq(res[3]->seqs[0].out, res[2]->seqs[0].out, 12 * sizeof(int32_t));
    int differ = 0;
    for (int j = 1; j < 4; j++) {
        ck_assert_int_eq(res[3]->seqs[j].num_out, 12);
        differ += memcmp(res[3]->seqs[j].out, res[3]->seqs[0].out, 12 * sizeof(int32_t)) != 0;
    }
    ck_assert_int_ge(differ, 2);
    /* every block is back: shared prompt blocks were released once per user */
    sl_engine_stats_t st;
    sl_engine_get_stats(r.e, &st);
    ck_assert_int_eq(st.kv.free_blocks, 256);
    for (int i = 0; i < 4; i++)
        sl_request_free(res[i]);
    rig_close(&r);
}
END_TEST

/* ---- stop conditions with a real tokenizer ---------------------------------------------- */

static sl_request_t *run_one(sl_engine_t *e, const int32_t *prompt, int32_t len,
                             const sl_sampling_params_t *sp)
{
    ck_assert_int_eq(sl_engine_submit(e, 0, prompt, len, sp), SL_OK);
    ck_assert_int_eq(sl_engine_run(e), SL_OK);
    sl_request_t *r = sl_engine_poll(e);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(stop_conditions)
{
    char tdir[4096];
    sl_tok_t *tok;
    sl_engine_options_t o;
    rig_t r;
    const int32_t prompt[] = {72, 101, 108, 108, 111};
    enum { NEW = 24 };

    snprintf(tdir, sizeof(tdir), "%s/tokenizers/tiny-bytelevel", SL_TEST_DATA);
    ck_assert_int_eq(sl_tok_load(tdir, &tok), SL_OK);
    sl_engine_options_init(&o);
    rig_open(&r, 0, 4, 256, &o, tok);

    /* the plain run: its ids and text */
    sl_sampling_params_t sp = greedy(NEW);
    sl_request_t *base = run_one(r.e, prompt, 5, &sp);
    const sl_sequence_t *bq = &base->seqs[0];
    char *full;
    size_t full_len;
    ck_assert_int_eq(bq->num_out, NEW);
    ck_assert_int_eq(sl_tok_decode(tok, bq->out, NEW, true, &full, &full_len), SL_OK);
    ck_assert_uint_eq(bq->stop.len, full_len);
    ck_assert_mem_eq(bq->stop.text, full, full_len);

    /* a stop string across a token boundary: the last byte of token k's text
     * and the first of token k + 1's */
    char stop[3] = {0};
    int32_t k, cut = -1;
    for (k = 2; k < NEW - 2 && cut < 0; k++) {
        char *a, *b;
        size_t la, lb;
        ck_assert_int_eq(sl_tok_decode(tok, bq->out, (size_t)k, true, &a, &la), SL_OK);
        ck_assert_int_eq(sl_tok_decode(tok, bq->out, (size_t)k + 1, true, &b, &lb), SL_OK);
        if (la > 0 && lb > la && memcmp(a, full, la) == 0 && memcmp(b, full, lb) == 0 &&
            (unsigned char)full[la - 1] < 0x80 && (unsigned char)full[la] < 0x80 &&
            full[la - 1] != 0 && full[la] != 0) {
            stop[0] = full[la - 1];
            stop[1] = full[la];
            cut = (int32_t)((char *)memmem(full, full_len, stop, 2) - full);
        }
        free(a);
        free(b);
    }
    ck_assert_msg(cut >= 0, "no token boundary between ASCII characters in \"%s\"", full);
    sl_sampling_params_t ss = greedy(NEW);
    ck_assert_int_eq(sl_sampling_params_add_stop(&ss, stop), SL_OK);
    sl_request_t *rs = run_one(r.e, prompt, 5, &ss);
    ck_assert_str_eq(sl_finish_reason_name(rs->seqs[0].finish_reason), "stop");
    ck_assert_uint_eq(rs->seqs[0].stop.len, (size_t)cut);
    ck_assert_mem_eq(rs->seqs[0].stop.text, full, (size_t)cut);
    ck_assert_int_lt(rs->seqs[0].num_out, NEW);
    ck_assert_mem_eq(rs->seqs[0].out, bq->out, (size_t)rs->seqs[0].num_out * 4);
    printf("stop string \"%s\" across tokens: stopped after %d tokens, text \"%s\"\n", stop,
           rs->seqs[0].num_out, rs->seqs[0].stop.text);

    /* a stop token id: ends at its first occurrence, kept in ids, not in text */
    int32_t sid = bq->out[2], first = 0;
    while (bq->out[first] != sid)
        first++;
    sl_sampling_params_t si = greedy(NEW);
    ck_assert_int_eq(sl_sampling_params_add_stop_id(&si, sid), SL_OK);
    sl_request_t *ri = run_one(r.e, prompt, 5, &si);
    ck_assert_int_eq(ri->seqs[0].num_out, first + 1);
    ck_assert_int_eq(ri->seqs[0].finish_reason, SL_FINISH_STOP);
    char *head;
    size_t head_len;
    ck_assert_int_eq(sl_tok_decode(tok, bq->out, (size_t)first, true, &head, &head_len), SL_OK);
    ck_assert_uint_eq(ri->seqs[0].stop.len, head_len);
    free(head);

    /* min_tokens: the stop id is suppressed for the first 6 tokens, and the
     * sequence ends at its first occurrence after them, if any */
    si.min_tokens = 6;
    sl_request_t *rm = run_one(r.e, prompt, 5, &si);
    const sl_sequence_t *mq = &rm->seqs[0];
    ck_assert_int_ge(mq->num_out, 6);
    for (int32_t i = 0; i < mq->num_out - 1; i++)
        ck_assert_int_ne(mq->out[i], sid);
    ck_assert(mq->finish_reason == SL_FINISH_LENGTH ||
              (mq->finish_reason == SL_FINISH_STOP && mq->out[mq->num_out - 1] == sid));
    rig_close(&r);

    /* EOS from the options, unless ignore_eos */
    o.eos = &sid;
    o.num_eos = 1;
    rig_open(&r, 0, 4, 256, &o, tok);
    sl_request_t *re = run_one(r.e, prompt, 5, &sp);
    ck_assert_int_eq(re->seqs[0].num_out, first + 1);
    ck_assert_int_eq(re->seqs[0].finish_reason, SL_FINISH_STOP);
    sp.ignore_eos = true;
    sl_request_t *rn = run_one(r.e, prompt, 5, &sp);
    ck_assert_int_eq(rn->seqs[0].num_out, NEW);
    ck_assert_int_eq(rn->seqs[0].finish_reason, SL_FINISH_LENGTH);

    sl_request_free(rn);
    sl_request_free(re);
    sl_request_free(rm);
    sl_request_free(ri);
    sl_request_free(rs);
    sl_request_free(base);
    sl_sampling_params_release(&ss);
    sl_sampling_params_release(&si);
    free(full);
    rig_close(&r);
    sl_tok_free(tok);
}
END_TEST

/* ---- abort, timing, records, the plan hook, bad requests --------------------------------- */

typedef struct hook_state {
    int calls;
    int32_t tokens;
} hook_state_t;

/* Packs and unpacks every plan and checks the copy: what a TP follower gets. */
static sl_status_t check_plan(void *ctx, const sl_step_plan_t *plan)
{
    hook_state_t *h = ctx;
    size_t size = sl_step_plan_size(plan);
    void *buf = malloc(size);
    sl_step_plan_t *copy;

    ck_assert_int_eq(sl_step_plan_pack(plan, buf, size), SL_OK);
    ck_assert_int_eq(sl_step_plan_unpack(buf, size, &copy), SL_OK);
    ck_assert_uint_eq(copy->step, plan->step);
    ck_assert_int_eq(copy->batch.num_tokens, plan->batch.num_tokens);
    ck_assert_mem_eq(copy->batch.tokens, plan->batch.tokens,
                     (size_t)plan->batch.num_tokens * sizeof(int32_t));
    for (int32_t i = 0; i < plan->batch.num_seqs; i++)
        ck_assert_mem_eq(copy->batch.seqs[i].block_table, plan->batch.seqs[i].block_table,
                         (size_t)plan->batch.seqs[i].num_blocks * sizeof(int32_t));
    for (int32_t i = 0; i < plan->batch.num_logits; i++)
        ck_assert_uint_eq(copy->rows[i].counter, plan->rows[i].counter);
    h->calls++;
    h->tokens += plan->batch.num_tokens;
    sl_step_plan_free(copy);
    free(buf);
    return SL_OK;
}

START_TEST(abort_timing_and_hooks)
{
    sl_engine_options_t o;
    hook_state_t h = {0};
    sl_request_t *res[3] = {0};
    int32_t prompt[30];
    rig_t r;

    for (int i = 0; i < 30; i++)
        prompt[i] = i + 1;
    sl_engine_options_init(&o);
    o.record_token_times = true;
    o.on_plan = check_plan;
    o.on_plan_ctx = &h;
    rig_open(&r, 0, 4, 256, &o, NULL);
    sl_sampling_params_t sp = greedy(10);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sl_engine_submit(r.e, (uint64_t)i, prompt, 10 + 10 * i, &sp), SL_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sl_engine_step(r.e), SL_OK);
    ck_assert_int_eq(sl_engine_abort(r.e, 1), SL_OK);
    ck_assert_int_eq(sl_engine_abort(r.e, 1), SL_ERR_NOT_FOUND);
    run_all(r.e, res, 3);
    ck_assert_int_eq(res[1]->seqs[0].finish_reason, SL_FINISH_ABORT);
    ck_assert_int_eq(res[1]->seqs[0].num_out, 3);
    for (int i = 0; i < 3; i += 2) {
        const sl_request_t *q = res[i];
        const sl_timing_t *t = &q->timing;
        sl_request_latency_t lat;
        ck_assert_int_eq(q->seqs[0].num_out, 10);
        ck_assert(t->arrival > 0 && t->arrival <= t->first_scheduled);
        ck_assert(t->first_scheduled <= t->first_token && t->first_token <= t->finish);
        ck_assert(q->seqs[0].token_times[0] == t->first_token);
        for (int k = 1; k < 10; k++)
            ck_assert(q->seqs[0].token_times[k] >= q->seqs[0].token_times[k - 1]);
        sl_request_latency(q, &lat);
        ck_assert(lat.queue >= 0 && lat.ttft >= lat.queue && lat.e2e >= lat.ttft);
        ck_assert(lat.itl_max >= lat.itl_mean && lat.itl_mean > 0);
        sl_ck_assert_close(lat.itl_mean * 9, q->seqs[0].token_times[9] - t->first_token, 1e-9);
    }
    sl_engine_stats_t st;
    size_t n;
    const sl_step_record_t *rec = sl_engine_step_records(r.e, &n);
    sl_engine_get_stats(r.e, &st);
    ck_assert_int_eq(h.calls, (int)st.steps);
    ck_assert_uint_eq(n, st.steps);
    ck_assert_int_eq(rec[0].prefill_tokens, 60);
    ck_assert_int_eq(rec[n - 1].decode_tokens, 2); /* requests 0 and 2 end together */
    ck_assert(rec[0].duration >= rec[0].forward && rec[0].forward > 0);
    ck_assert_uint_eq(st.requests_finished, 3);
    sl_engine_clear_step_records(r.e);
    sl_engine_step_records(r.e, &n);
    ck_assert_uint_eq(n, 0);
    for (int i = 0; i < 3; i++)
        sl_request_free(res[i]);

    /* bad requests: refused, or failed alone */
    mc_log_begin();
    ck_assert_int_eq(sl_engine_submit(r.e, 5, prompt, 0, &sp), SL_ERR_INVALID_ARG);
    int32_t bad = 272;
    ck_assert_int_eq(sl_engine_submit(r.e, 6, &bad, 1, &sp), SL_ERR_INVALID_ARG);
    sp.top_p = 2;
    ck_assert_int_eq(sl_engine_submit(r.e, 7, prompt, 3, &sp), SL_ERR_INVALID_ARG);
    sp.top_p = 1;
    int32_t *longp = calloc(512, sizeof(int32_t));
    ck_assert_int_eq(sl_engine_submit(r.e, 8, longp, 512, &sp), SL_OK);
    const char *log = mc_log_end();
    mc_assert_logged(log, "request 6: prompt token 0 is 272, outside the vocabulary of 272");
    mc_assert_logged(log, "sampling parameter top_p = 2: must be in (0, 1]");
    mc_assert_logged(log, "leaves no room in the model's context of 512");
    sl_request_t *q = sl_engine_poll(r.e);
    ck_assert_uint_eq(q->id, 8);
    ck_assert_int_eq(q->seqs[0].finish_reason, SL_FINISH_ERROR);
    ck_assert(!sl_engine_has_work(r.e));
    sl_request_free(q);
    free(longp);
    rig_close(&r);
}
END_TEST

/* ---- a backend's own sampler (forward_sample) ------------------------------------------- */

/* The CPU backend with a forward_sample made of its forward and the host
 * sampler: the engine's backend-sampling path must give exactly what its
 * host path gives (same rows, histories, per-row result offsets, forks). */
typedef struct {
    sl_backend_t base;
    sl_backend_t *inner;
    sl_sampler_t *sampler;
    float *logits; /* [num_logits, vocab] */
    int calls;
} sample_wrap_t;

static sl_status_t wrap_forward(sl_backend_t *b, const sl_batch_t *batch, float *logits)
{
    return sl_backend_forward(((sample_wrap_t *)b)->inner, batch, logits);
}

static sl_status_t wrap_greedy(sl_backend_t *b, const sl_batch_t *batch, int32_t *tokens)
{
    sl_backend_t *in = ((sample_wrap_t *)b)->inner;
    return in->ops->forward_greedy(in, batch, tokens);
}

static sl_status_t wrap_sample(sl_backend_t *b, const sl_batch_t *batch,
                               const sl_sample_row_t *rows, const sl_sample_history_t *hist,
                               sl_sample_result_t *results)
{
    sample_wrap_t *w = (sample_wrap_t *)b;
    size_t vocab = (size_t)b->limits.vocab_size, at = 0;

    w->calls++;
    w->logits = realloc(w->logits, (size_t)(batch->num_logits + 1) * vocab * sizeof(float));
    ck_assert_ptr_nonnull(w->logits);
    sl_status_t s = sl_backend_forward(w->inner, batch, w->logits);
    for (int32_t i = 0; s == SL_OK && i < batch->num_logits; i++) {
        sl_sampler_sample(w->sampler, w->logits + (size_t)i * vocab, &rows[i], &hist[i],
                          results + at);
        at += (size_t)(rows[i].num_samples > 0 ? rows[i].num_samples : 1);
    }
    return s;
}

static void wrap_destroy(sl_backend_t *b)
{
    (void)b; /* the rig owns the inner backend */
}

static const sl_backend_ops_t wrap_ops = {.forward = wrap_forward, .forward_greedy = wrap_greedy,
                                          .forward_sample = wrap_sample,
                                          .destroy = wrap_destroy};

/* 24 requests mixing everything a row can ask for, on engine E. */
static void submit_mixed(sl_engine_t *e, int32_t vocab)
{
    uint32_t st = 5;
    int32_t prompt[40];
    for (int p = 0; p < 24; p++) {
        int32_t len = 3 + (int32_t)(lcg(&st) % 37);
        for (int32_t i = 0; i < len; i++)
            prompt[i] = (int32_t)(lcg(&st) % (uint32_t)vocab);
        sl_sampling_params_t sp;
        sl_sampling_params_init(&sp);
        sp.max_tokens = 6 + (int32_t)(lcg(&st) % 10);
        sp.temperature = (p % 3 == 0) ? 0.0f : 0.8f;
        sp.top_k = p % 5 == 1 ? 30 : 0;
        sp.top_p = p % 4 == 2 ? 0.9f : 1.0f;
        sp.min_p = p % 7 == 3 ? 0.05f : 0.0f;
        sp.repetition_penalty = p % 2 ? 1.2f : 1.0f;
        sp.frequency_penalty = p % 6 == 4 ? 0.3f : 0.0f;
        sp.presence_penalty = p % 6 == 5 ? -0.2f : 0.0f;
        sp.logprobs = p % 4 == 0 ? -1 : p % 4;
        sp.n = 1 + p % 3;
        sp.min_tokens = p % 5 == 0 ? 3 : 0;
        sp.has_seed = p % 2 == 0;
        sp.seed = 7 + (uint64_t)p;
        ck_assert_int_eq(sl_sampling_params_add_stop_id(&sp, (int32_t)(p * 11 % vocab)), SL_OK);
        ck_assert_int_eq(sl_engine_submit(e, (uint64_t)p, prompt, len, &sp), SL_OK);
        sl_sampling_params_release(&sp);
    }
}

START_TEST(backend_sampler_path)
{
    const int32_t eos[1] = {5};
    sl_engine_options_t o;
    sl_request_t *host[24] = {0}, *dev[24] = {0}, *off[24] = {0};
    sl_engine_t *e;
    rig_t r;

    sl_engine_options_init(&o);
    o.eos = eos;
    o.num_eos = 1;
    o.max_prefill_tokens = 48;
    o.chunked_prefill_size = 24;
    rig_open(&r, 0, 4, 512, &o, NULL);
    submit_mixed(r.e, 272);
    run_all(r.e, host, 24);

    sample_wrap_t w = {.base = {.ops = &wrap_ops, .name = "cpu+sampler",
                                .limits = r.be->limits},
                       .inner = r.be};
    ck_assert_int_eq(sl_sampler_create(272, &w.sampler), SL_OK);
    for (int k = 0; k < 2; k++) {
        sl_request_t **got = k == 0 ? dev : off;
        o.host_sampling = k == 1; /* --gpu-sampling off: the host path again */
        w.calls = 0;
        ck_assert_int_eq(sl_engine_create(&w.base, NULL, r.m->config, &o, &e), SL_OK);
        submit_mixed(e, 272);
        run_all(e, got, 24);
        sl_engine_free(e);
        if (k == 0)
            ck_assert_int_gt(w.calls, 0);
        else
            ck_assert_int_eq(w.calls, 0);
        for (int p = 0; p < 24; p++) {
            ck_assert_ptr_nonnull(got[p]);
            ck_assert_int_eq(got[p]->params.n, host[p]->params.n);
            for (int j = 0; j < host[p]->params.n; j++) {
                const sl_sequence_t *a = &got[p]->seqs[j], *b = &host[p]->seqs[j];
                ck_assert_int_eq(a->num_out, b->num_out);
                ck_assert_int_eq(a->finish_reason, b->finish_reason);
                ck_assert_mem_eq(a->out, b->out, (size_t)a->num_out * sizeof(int32_t));
                if (host[p]->params.logprobs < 0)
                    continue;
                int32_t nt = host[p]->params.logprobs;
                ck_assert_mem_eq(a->logprobs, b->logprobs, (size_t)a->num_out * sizeof(float));
                ck_assert_mem_eq(a->top_ids, b->top_ids,
                                 (size_t)a->num_out * (size_t)nt * sizeof(int32_t));
                ck_assert_mem_eq(a->top_logprobs, b->top_logprobs,
                                 (size_t)a->num_out * (size_t)nt * sizeof(float));
            }
        }
    }
    for (int p = 0; p < 24; p++) {
        sl_request_free(host[p]);
        sl_request_free(dev[p]);
        sl_request_free(off[p]);
    }
    sl_sampler_free(w.sampler);
    free(w.logits);
    rig_close(&r);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("engine_batch");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, matches_reference, 0, (int)(sizeof(configs) / sizeof(configs[0])));
    tcase_add_test(tc, batch_invariance);
    tcase_add_test(tc, preemption_under_a_tiny_cache);
    tcase_add_test(tc, n_sequences);
    tcase_add_test(tc, stop_conditions);
    tcase_add_test(tc, abort_timing_and_hooks);
    tcase_add_test(tc, backend_sampler_path);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(batch_suite)
