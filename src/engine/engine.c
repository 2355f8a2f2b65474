/* engine.c - schedule, run, sample, stop; see engine.h. */
#include "config.h"

#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/scheduler.h"

/* A growable array of T (the step's scratch). */
#define SL_GROW(ptr, cap, need, what)                                                   \
    sl_engine_grow((void **)&(ptr), &(cap), (size_t)(need), sizeof(*(ptr)), (what))

struct sl_engine {
    sl_backend_t *backend;
    const sl_tok_t *tok;
    const sl_model_config_t *config;
    sl_engine_options_t opt;
    int32_t eos[64];                /* [num_eos] copied from the options  */
    int32_t num_eos;
    int32_t vocab;

    sl_kv_t *kv;
    sl_sched_t *sched;
    sl_sampler_t *sampler;
    sl_sched_plan_t plan;
    uint64_t next_order;            /* submission counter: sequence age   */

    sl_request_t **active;          /* [num_active] unfinished requests   */
    size_t num_active, cap_active;
    sl_request_t *done_head, *done_tail;

    /* per-step scratch */
    int32_t *tokens;                /* [num_tokens]                       */
    size_t cap_tokens;
    sl_batch_seq_t *bseqs;          /* [num_seqs]                         */
    size_t cap_bseqs;
    int32_t *logit_idx;             /* [num_logits]                       */
    size_t cap_logit_idx;
    sl_sample_row_t *rows;          /* [num_logits]                       */
    size_t cap_rows;
    int32_t *row_entry;             /* [num_logits] plan entry of a row   */
    size_t cap_row_entry;
    float *logits;                  /* [num_logits, vocab]                */
    size_t cap_logits;
    int32_t *greedy;                /* [num_logits] argmax of a greedy step */
    size_t cap_greedy;
    sl_sample_history_t *hist;      /* [num_logits] penalty inputs of a row */
    size_t cap_hist;
    int32_t *suppress;              /* [sum of the rows' EOS + stop ids]  */
    size_t cap_suppress;
    size_t *res_off;                /* [num_logits + 1] first result of a row */
    size_t cap_res_off;
    sl_sample_result_t *results;    /* [sum of the rows' num_samples]     */
    size_t cap_results;

    sl_step_record_t *records;
    size_t num_records, cap_records;
    sl_engine_stats_t stats;
};

static sl_status_t sl_engine_grow(void **ptr, size_t *cap, size_t need, size_t elem,
                                  const char *what)
{
    if (need <= *cap)
        return SL_OK;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*ptr, n * elem);
    if (p == NULL) {
        sl_error("out of memory for %zu %s", n, what);
        return SL_ERR_NO_MEMORY;
    }
    *ptr = p;
    *cap = n;
    return SL_OK;
}

void sl_engine_options_init(sl_engine_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->max_running = 256;
    o->chunked_prefill_size = 2048;
    o->max_prefill_tokens = 16384;
    o->prefix_cache = true;
}

sl_status_t sl_engine_create(sl_backend_t *backend, const sl_tok_t *tok,
                             const sl_model_config_t *config, const sl_engine_options_t *opt,
                             sl_engine_t **engine_p)
{
    sl_engine_t *e = calloc(1, sizeof(*e));
    const sl_batch_limits_t *lim = &backend->limits;
    sl_status_t s;

    if (e == NULL) {
        sl_error("out of memory for the engine");
        return SL_ERR_NO_MEMORY;
    }
    e->backend = backend;
    e->tok = tok;
    e->config = config;
    e->opt = *opt;
    e->vocab = lim->vocab_size;
    for (int32_t i = 0; i < opt->num_eos && e->num_eos < 64; i++)
        if (opt->eos[i] >= 0 && opt->eos[i] < e->vocab)
            e->eos[e->num_eos++] = opt->eos[i];
    e->opt.eos = NULL;
    sl_sched_options_t so = {.max_running = opt->max_running,
                             .chunked_prefill_size = opt->chunked_prefill_size,
                             .max_prefill_tokens = opt->max_prefill_tokens};
    if ((s = sl_kv_create(lim->num_blocks, lim->block_size, opt->prefix_cache, &e->kv)) != SL_OK ||
        (s = sl_sched_create(e->kv, &so, &e->sched)) != SL_OK ||
        (s = sl_sampler_create(e->vocab, &e->sampler)) != SL_OK)
        goto err;
    sl_debug("engine: %d KV blocks of %d tokens, prefix cache %s, up to %d running sequences, "
            "prefill chunks of %d, %d prefill tokens per step",
            lim->num_blocks, lim->block_size, opt->prefix_cache ? "on" : "off",
            opt->max_running, opt->chunked_prefill_size, opt->max_prefill_tokens);
    *engine_p = e;
    return SL_OK;
err:
    sl_engine_free(e);
    return s;
}

void sl_engine_free(sl_engine_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->num_active; i++)
        sl_request_free(e->active[i]);
    while (e->done_head != NULL) {
        sl_request_t *r = e->done_head;
        e->done_head = r->next_done;
        sl_request_free(r);
    }
    free(e->active);
    sl_sched_plan_free(&e->plan);
    sl_sampler_free(e->sampler);
    sl_sched_free(e->sched);
    sl_kv_free(e->kv);
    free(e->tokens);
    free(e->bseqs);
    free(e->logit_idx);
    free(e->rows);
    free(e->row_entry);
    free(e->logits);
    free(e->greedy);
    free(e->hist);
    free(e->suppress);
    free(e->res_off);
    free(e->results);
    free(e->records);
    free(e);
}

/* ---- finishing ------------------------------------------------------------------- */

static void sl_engine_done(sl_engine_t *e, sl_request_t *r)
{
    r->timing.finish = sl_time_now();
    r->next_done = NULL;
    if (e->done_tail != NULL)
        e->done_tail->next_done = r;
    else
        e->done_head = r;
    e->done_tail = r;
    e->stats.requests_finished++;
}

/* Drops R from the active list: O(1), the last one takes its place. */
static void sl_engine_deactivate(sl_engine_t *e, sl_request_t *r)
{
    sl_request_t *last = e->active[--e->num_active];

    e->active[r->active_index] = last;
    last->active_index = r->active_index;
}

static sl_status_t sl_engine_finish_seq(sl_engine_t *e, sl_sequence_t *q,
                                        sl_finish_reason_t reason)
{
    sl_request_t *r = q->req;
    sl_status_t s = sl_seq_finish_text(q);

    sl_sched_remove(e->sched, q);
    q->state = SL_SEQ_FINISHED;
    q->finish_reason = reason;
    if (++r->num_finished == r->params.n) {
        sl_engine_deactivate(e, r);
        sl_engine_done(e, r);
    }
    return s;
}

sl_request_t *sl_engine_poll(sl_engine_t *e)
{
    sl_request_t *r = e->done_head;

    if (r != NULL) {
        e->done_head = r->next_done;
        if (e->done_head == NULL)
            e->done_tail = NULL;
        r->next_done = NULL;
    }
    return r;
}

const sl_request_t *sl_engine_find(const sl_engine_t *e, uint64_t id)
{
    for (size_t i = 0; i < e->num_active; i++)
        if (e->active[i]->id == id)
            return e->active[i];
    return NULL;
}

sl_status_t sl_engine_abort(sl_engine_t *e, uint64_t id)
{
    for (size_t i = 0; i < e->num_active; i++) {
        sl_request_t *r = e->active[i];
        if (r->id != id)
            continue;
        sl_status_t s = SL_OK;
        for (int32_t j = 0; j < r->params.n && r->num_finished < r->params.n; j++)
            if (r->seqs[j].state != SL_SEQ_FINISHED && s == SL_OK)
                s = sl_engine_finish_seq(e, &r->seqs[j], SL_FINISH_ABORT);
        return s;
    }
    return SL_ERR_NOT_FOUND;
}

/* ---- submission ------------------------------------------------------------------- */

sl_status_t sl_engine_submit(sl_engine_t *e, uint64_t id, const int32_t *prompt,
                             int32_t prompt_len, const sl_sampling_params_t *params)
{
    int64_t ctx = e->config->max_position, bs = e->backend->limits.block_size;
    sl_request_t *r;
    sl_status_t s;
    char why[256] = "";

    if ((s = sl_sampling_params_validate(params, e->vocab)) != SL_OK)
        return s;
    if (prompt_len < 1) {
        sl_error("request %llu: the prompt is empty", (unsigned long long)id);
        return SL_ERR_INVALID_ARG;
    }
    for (int32_t i = 0; i < prompt_len; i++) {
        if (prompt[i] < 0 || prompt[i] >= e->vocab) {
            sl_error("request %llu: prompt token %d is %d, outside the vocabulary of %d",
                     (unsigned long long)id, i, prompt[i], e->vocab);
            return SL_ERR_INVALID_ARG;
        }
    }
    if ((s = SL_GROW(e->active, e->cap_active, e->num_active + 1, "active requests")) != SL_OK ||
        (s = sl_request_create(id, prompt, prompt_len, params, e->tok,
                               e->opt.record_token_times, &r)) != SL_OK)
        return s;
    r->timing.arrival = sl_time_now();
    e->stats.requests_submitted++;
    e->stats.prompt_tokens += (uint64_t)prompt_len;
    for (int32_t i = 0; i < params->n; i++)
        r->seqs[i].order = (e->next_order << 10) | (uint64_t)i; /* n <= 1024 */
    e->next_order++;

    if (prompt_len >= ctx) {
        snprintf(why, sizeof(why), "the prompt of %d tokens leaves no room in the model's "
                 "context of %lld", prompt_len, (long long)ctx);
    } else {
        r->max_new = (int64_t)params->max_tokens < ctx - prompt_len
                         ? params->max_tokens : (int32_t)(ctx - prompt_len);
        /* The last token is never fed back: it needs no K/V slot. */
        int64_t need = ((int64_t)prompt_len + r->max_new - 1 + bs - 1) / bs;
        if (need > e->backend->limits.num_blocks)
            snprintf(why, sizeof(why), "it needs %lld KV blocks (%d prompt + %d new tokens, "
                     "%lld per block) but the whole cache has %d; raise --kv-cache-memory "
                     "or lower max_tokens",
                     (long long)need, prompt_len, r->max_new, (long long)bs,
                     e->backend->limits.num_blocks);
    }
    if (why[0] != '\0') {
        sl_error("request %llu cannot run: %s", (unsigned long long)id, why);
        r->error = strdup(why);
        for (int32_t i = 0; i < params->n; i++) {
            r->seqs[i].state = SL_SEQ_FINISHED;
            r->seqs[i].finish_reason = SL_FINISH_ERROR;
        }
        r->num_finished = params->n;
        sl_engine_done(e, r);
        return SL_OK;
    }
    r->active_index = e->num_active;
    e->active[e->num_active++] = r;
    sl_sched_add(e->sched, &r->seqs[0]);
    return SL_OK;
}

bool sl_engine_has_work(const sl_engine_t *e)
{
    return sl_sched_num_waiting(e->sched) > 0 || sl_sched_num_running(e->sched) > 0;
}

/* ---- one step ------------------------------------------------------------------------ */

/* The sampling inputs of SEQ's next token. */
static void sl_engine_row(const sl_engine_t *e, const sl_sequence_t *q, sl_sample_row_t *row)
{
    const sl_request_t *r = q->req;
    const sl_sampling_params_t *p = &r->params;
    bool fork = p->n > 1 && !r->forked;

    *row = (sl_sample_row_t){
        .temperature = p->temperature, .top_p = p->top_p, .min_p = p->min_p,
        .top_k = p->top_k > 0 ? p->top_k : 0,
        .repetition_penalty = p->repetition_penalty,
        .presence_penalty = p->presence_penalty, .frequency_penalty = p->frequency_penalty,
        .logprobs = p->logprobs, .num_samples = fork ? p->n : 1,
        .suppress_stop = q->num_out < p->min_tokens,
        /* A seeded request is reproducible on its own (the same seed and prompt
         * give the same tokens whatever its id); others draw from the engine's
         * seed, in a stream of their own. */
        .seed = p->has_seed ? p->seed : e->opt.seed,
        .stream = (p->has_seed ? 0 : sl_rng_mix(r->id)) + (uint64_t)q->index,
        .counter = (uint64_t)sl_seq_len(q),
    };
}

/* Plan -> batch and sampling rows, in the engine's scratch arrays. */
static sl_status_t sl_engine_build_batch(sl_engine_t *e, sl_step_plan_t *sp)
{
    const sl_sched_plan_t *plan = &e->plan;
    int32_t ntok = plan->prefill_tokens + plan->decode_tokens, nlog = 0, t = 0;
    sl_status_t s;

    if ((s = SL_GROW(e->tokens, e->cap_tokens, ntok, "step tokens")) != SL_OK ||
        (s = SL_GROW(e->bseqs, e->cap_bseqs, plan->num_entries, "step sequences")) != SL_OK)
        return s;
    for (int32_t i = 0; i < plan->num_entries; i++)
        nlog += plan->entries[i].logits;
    if ((s = SL_GROW(e->logit_idx, e->cap_logit_idx, nlog, "logit rows")) != SL_OK ||
        (s = SL_GROW(e->rows, e->cap_rows, nlog, "logit rows")) != SL_OK ||
        (s = SL_GROW(e->row_entry, e->cap_row_entry, nlog, "logit rows")) != SL_OK ||
        (s = SL_GROW(e->logits, e->cap_logits, (size_t)nlog * (size_t)e->vocab,
                     "logits")) != SL_OK)
        return s;
    nlog = 0;
    for (int32_t i = 0; i < plan->num_entries; i++) {
        const sl_sched_entry_t *en = &plan->entries[i];
        sl_sequence_t *q = en->seq;
        for (int32_t j = 0; j < en->num_tokens; j++)
            e->tokens[t + j] = sl_seq_token(q, en->start + j);
        e->bseqs[i] = (sl_batch_seq_t){.num_tokens = en->num_tokens, .start_pos = en->start,
                                       .num_blocks = q->num_blocks, .block_table = q->blocks};
        t += en->num_tokens;
        if (en->logits) {
            e->logit_idx[nlog] = t - 1;
            e->row_entry[nlog] = i;
            sl_engine_row(e, q, &e->rows[nlog]);
            nlog++;
        }
    }
    *sp = (sl_step_plan_t){
        .step = e->stats.steps,
        .batch = {.num_seqs = plan->num_entries, .seqs = e->bseqs, .num_tokens = t,
                  .tokens = e->tokens, .num_logits = nlog, .logit_indices = e->logit_idx},
        .rows = e->rows,
    };
    return SL_OK;
}

/* A new token R of Q: output, text, stop conditions. */
static sl_status_t sl_engine_accept(sl_engine_t *e, sl_sequence_t *q,
                                    const sl_sample_result_t *res, double now)
{
    sl_request_t *r = q->req;
    const sl_sampling_params_t *p = &r->params;
    bool may_stop = q->num_out + 1 >= p->min_tokens, stopped;
    bool stop_token = may_stop && sl_stop_is_stop_token(res->token, e->eos, e->num_eos,
                                                        p->ignore_eos, p->stop_token_ids,
                                                        p->num_stop_token_ids);
    sl_status_t s = sl_seq_append(q, res, stop_token, may_stop && p->num_stop > 0, now,
                                  &stopped);

    if (s != SL_OK)
        return s;
    if (r->timing.first_token == 0)
        r->timing.first_token = now;
    e->stats.generated_tokens++;
    if (stop_token || stopped)
        return sl_engine_finish_seq(e, q, SL_FINISH_STOP);
    if (q->num_out >= r->max_new)
        return sl_engine_finish_seq(e, q, SL_FINISH_LENGTH);
    return SL_OK;
}

/* A step whose every row is plain greedy -- no penalties, no logprobs, no
 * EOS suppression, one sample -- needs only the argmax of each row, which a
 * backend can compute where the logits are (forward_greedy). The filters
 * (top-k/p, min-p) never remove the argmax, so they do not matter here. */
static bool sl_engine_plain_greedy(const sl_step_plan_t *sp)
{
    for (int32_t i = 0; i < sp->batch.num_logits; i++) {
        const sl_sample_row_t *row = &sp->rows[i];
        if (row->temperature >= SL_SAMPLE_GREEDY_EPS || sl_sample_row_has_penalties(row) ||
            row->logprobs >= 0 || row->num_samples > 1)
            return false;
    }
    return true;
}

/* The penalty inputs of every logit row of SP (e->hist) and where each row's
 * results start in e->results (e->res_off, the total last): what a sampler,
 * the host's or a backend's, needs before the forward. */
static sl_status_t sl_engine_prepare_samples(sl_engine_t *e, const sl_step_plan_t *sp)
{
    int32_t nlog = sp->batch.num_logits;
    size_t nsup = 0, nres = 0;
    sl_status_t s;

    if ((s = SL_GROW(e->hist, e->cap_hist, nlog, "sampling rows")) != SL_OK ||
        (s = SL_GROW(e->res_off, e->cap_res_off, (size_t)nlog + 1, "sampling rows")) != SL_OK)
        return s;
    for (int32_t i = 0; i < nlog; i++) {
        const sl_sampling_params_t *p = &e->plan.entries[e->row_entry[i]].seq->req->params;
        if (sp->rows[i].suppress_stop)
            nsup += (p->ignore_eos ? 0 : (size_t)e->num_eos) + (size_t)p->num_stop_token_ids;
        e->res_off[i] = nres;
        nres += (size_t)(sp->rows[i].num_samples > 0 ? sp->rows[i].num_samples : 1);
    }
    e->res_off[nlog] = nres;
    if ((s = SL_GROW(e->suppress, e->cap_suppress, nsup + 1, "stop ids")) != SL_OK ||
        (s = SL_GROW(e->results, e->cap_results, nres, "samples")) != SL_OK)
        return s;
    /* Pointers into e->suppress only once it has stopped growing. */
    nsup = 0;
    for (int32_t i = 0; i < nlog; i++) {
        const sl_sequence_t *q = e->plan.entries[e->row_entry[i]].seq;
        const sl_request_t *r = q->req;
        const sl_sampling_params_t *p = &r->params;
        size_t first = nsup;
        if (sp->rows[i].suppress_stop) {
            for (int32_t k = 0; !p->ignore_eos && k < e->num_eos; k++)
                e->suppress[nsup++] = e->eos[k];
            for (int32_t k = 0; k < p->num_stop_token_ids; k++)
                e->suppress[nsup++] = p->stop_token_ids[k];
        }
        e->hist[i] = (sl_sample_history_t){
            .prompt = r->prompt, .prompt_len = (size_t)r->prompt_len,
            .output = q->out, .output_len = (size_t)q->num_out,
            .suppress = e->suppress + first, .num_suppress = nsup - first,
        };
    }
    return SL_OK;
}

/* The host sampler over the step's logits (e->logits) into e->results. */
static void sl_engine_sample_host(sl_engine_t *e, const sl_step_plan_t *sp)
{
    for (int32_t i = 0; i < sp->batch.num_logits; i++)
        sl_sampler_sample(e->sampler, e->logits + (size_t)i * (size_t)e->vocab, &sp->rows[i],
                          &e->hist[i], e->results + e->res_off[i]);
}

/* Takes the sampled tokens of every logit row of SP (e->results, row i's at
 * e->res_off[i]), forking the sequences of a row drawn n > 1 times. */
static sl_status_t sl_engine_sample(sl_engine_t *e, const sl_step_plan_t *sp)
{
    double now = sl_time_now();
    sl_status_t s;

    for (int32_t i = 0; i < sp->batch.num_logits; i++) {
        sl_sequence_t *q = e->plan.entries[e->row_entry[i]].seq;
        sl_request_t *r = q->req;
        const sl_sample_result_t *res = e->results + e->res_off[i];
        size_t ns = e->res_off[i + 1] - e->res_off[i];

        if (ns > 1) {
            /* The prompt is computed: the other sequences share its full blocks. */
            r->forked = true;
            for (int32_t j = 1; j < r->params.n; j++)
                sl_sched_fork(e->sched, q, &r->seqs[j]);
        }
        for (size_t j = 0; j < ns; j++)
            if ((s = sl_engine_accept(e, &r->seqs[ns > 1 ? j : (size_t)q->index], &res[j],
                                      now)) != SL_OK)
                return s;
    }
    return SL_OK;
}

/* The forward of SP and, but for *HOST_P, its samples in e->results: the
 * argmax on the backend for a plain greedy step, the backend's sampler where
 * it has one; else the logits come to the host (e->logits) and *HOST_P says
 * that the host sampler is to run. */
static sl_status_t sl_engine_forward(sl_engine_t *e, const sl_step_plan_t *sp, bool *host_p)
{
    const sl_backend_ops_t *ops = e->backend->ops;
    int32_t nlog = sp->batch.num_logits;
    sl_status_t s;

    if (ops->forward_greedy != NULL && sl_engine_plain_greedy(sp)) {
        if ((s = SL_GROW(e->greedy, e->cap_greedy, (size_t)nlog, "greedy tokens")) != SL_OK ||
            (s = ops->forward_greedy(e->backend, &sp->batch, e->greedy)) != SL_OK)
            return s;
        /* plain greedy: one sample a row, so row i's result is results[i] */
        for (int32_t i = 0; i < nlog; i++)
            e->results[i] = (sl_sample_result_t){.token = e->greedy[i]};
        return SL_OK;
    }
    if (ops->forward_sample != NULL && !e->opt.host_sampling)
        return ops->forward_sample(e->backend, &sp->batch, sp->rows, e->hist, e->results);
    if ((s = sl_backend_forward(e->backend, &sp->batch, e->logits)) != SL_OK)
        return s;
    *host_p = true;
    return SL_OK;
}

static sl_status_t sl_engine_record(sl_engine_t *e, const sl_step_record_t *rec)
{
    sl_status_t s = SL_GROW(e->records, e->cap_records, e->num_records + 1, "step records");

    if (s == SL_OK)
        e->records[e->num_records++] = *rec;
    return s;
}

sl_status_t sl_engine_step(sl_engine_t *e)
{
    double start = sl_time_now(), fwd;
    sl_step_plan_t sp;
    sl_status_t s;

    if (!sl_engine_has_work(e))
        return SL_OK;
    if ((s = sl_sched_build(e->sched, &e->plan)) != SL_OK)
        return s;
    if (e->plan.num_entries == 0) {
        sl_error("internal: %d sequences wait, %d run, but none can be scheduled",
                 sl_sched_num_waiting(e->sched), sl_sched_num_running(e->sched));
        return SL_ERR_INTERNAL;
    }
    if ((s = sl_engine_build_batch(e, &sp)) != SL_OK)
        return s;
    for (int32_t i = 0; i < e->plan.num_entries; i++) {
        sl_request_t *r = e->plan.entries[i].seq->req;
        if (r->timing.first_scheduled == 0)
            r->timing.first_scheduled = start;
    }
    if (e->opt.on_plan != NULL && (s = e->opt.on_plan(e->opt.on_plan_ctx, &sp)) != SL_OK)
        return s;
    if ((s = sl_engine_prepare_samples(e, &sp)) != SL_OK)
        return s;
    fwd = sl_time_now();
    bool host = false;
    if ((s = sl_engine_forward(e, &sp, &host)) != SL_OK)
        return s;
    fwd = sl_time_now() - fwd;
    if (host)
        sl_engine_sample_host(e, &sp);
    /* Computed tokens first: blocks are published before any sequence that
     * finishes in this step frees them. */
    sl_sched_commit(e->sched, &e->plan);
    if ((s = sl_engine_sample(e, &sp)) != SL_OK)
        return s;

    double end = sl_time_now();
    sl_step_record_t rec = {
        .step = e->stats.steps, .start = start, .duration = end - start, .forward = fwd,
        .num_seqs = e->plan.num_entries, .prefill_tokens = e->plan.prefill_tokens,
        .decode_tokens = e->plan.decode_tokens, .num_preempted = e->plan.num_preempted,
        .free_blocks = sl_kv_available(e->kv),
    };
    e->stats.steps++;
    e->stats.computed_tokens += (uint64_t)e->plan.prefill_tokens;
    e->stats.busy_seconds += rec.duration;
    e->stats.forward_seconds += fwd;
    sl_trace("step %llu: %d sequences, %d prefill + %d decode tokens, %d preempted, %.3f ms",
             (unsigned long long)rec.step, rec.num_seqs, rec.prefill_tokens,
             rec.decode_tokens, rec.num_preempted, 1e3 * rec.duration);
    return sl_engine_record(e, &rec);
}

sl_status_t sl_engine_run(sl_engine_t *e)
{
    sl_status_t s = SL_OK;

    while (s == SL_OK && sl_engine_has_work(e))
        s = sl_engine_step(e);
    return s;
}

const sl_step_record_t *sl_engine_step_records(const sl_engine_t *e, size_t *count_p)
{
    *count_p = e->num_records;
    return e->records;
}

void sl_engine_clear_step_records(sl_engine_t *e)
{
    e->num_records = 0;
}

void sl_engine_get_stats(const sl_engine_t *e, sl_engine_stats_t *st)
{
    *st = e->stats;
    st->preemptions = sl_sched_num_preemptions(e->sched);
    st->waiting = sl_sched_num_waiting(e->sched);
    st->running = sl_sched_num_running(e->sched);
    sl_kv_get_stats(e->kv, &st->kv);
}
