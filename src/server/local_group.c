/*
 * local_group.c - the engine of this process behind the group interface:
 * one thread drives it (engine.h is not thread-safe), taking tickets from an
 * inbox, stepping, and publishing what each step produced.
 *
 * After every step the thread publishes, for each request still running,
 * the tokens and the *final* text produced since the last step (text the
 * stop-string matcher holds back is published once decided), then the ends
 * of the requests that finished. A ticket cancelled by its consumer is
 * aborted before the next step, which frees its KV blocks at once.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/engine.h"
#include "server/group.h"

/* A request in the engine and how much of it has been published. */
typedef struct sl_server_entry {
    sl_server_ticket_t *ticket;
    const sl_request_t *req;    /* the engine's, until it is polled (or NULL) */
    int32_t *pub_tokens;        /* [n] tokens published per sequence         */
    size_t *pub_text;           /* [n] text bytes published per sequence     */
    sl_server_out_t delta;      /* scratch, shaped like the ticket's output */
    bool aborted;
} sl_server_entry_t;

typedef struct sl_server_local {
    sl_server_group_t base;
    sl_engine_t *engine;
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;
    pthread_cond_t wake;
    sl_server_ticket_t **inbox; /* [num_inbox] guarded by lock                */
    size_t num_inbox, cap_inbox;
    bool stopping;              /* guarded by lock                            */

    /* the engine thread's own */
    sl_server_entry_t *entries; /* [num_entries]                              */
    size_t num_entries, cap_entries;
    sl_server_ticket_t **taken; /* the inbox, swapped out                     */
    size_t cap_taken;
} sl_server_local_t;

void sl_server_group_init(sl_server_group_t *g, const sl_server_group_ops_t *ops, int index)
{
    memset(g, 0, sizeof(*g));
    g->ops = ops;
    g->index = index;
    atomic_init(&g->inflight, 0);
    atomic_init(&g->ready, false);
    atomic_init(&g->failed, false);
    pthread_mutex_init(&g->stats_lock, NULL);
}

void sl_server_group_stats(sl_server_group_t *g, sl_server_stats_t *stats)
{
    pthread_mutex_lock(&g->stats_lock);
    *stats = g->stats;
    pthread_mutex_unlock(&g->stats_lock);
}

void sl_server_group_stop(sl_server_group_t *g)
{
    if (g != NULL)
        g->ops->stop(g);
}

void sl_server_group_destroy(sl_server_group_t *g)
{
    if (g != NULL)
        g->ops->destroy(g);
}

/* ---- publishing ------------------------------------------------------------------ */

/* The entry's delta: what request R produced since the last publish. */
static sl_status_t sl_server_local_delta(sl_server_entry_t *en, const sl_request_t *r)
{
    sl_server_out_t *d = &en->delta;
    size_t top = r->params.logprobs > 0 ? (size_t)r->params.logprobs : 0;
    sl_status_t s;

    sl_server_out_reset(d);
    for (int32_t j = 0; j < r->params.n; j++) {
        const sl_sequence_t *q = &r->seqs[j];
        size_t k = (size_t)en->pub_tokens[j];
        int32_t count = q->num_out - en->pub_tokens[j];
        if (count > 0) {
            bool lp = r->params.logprobs >= 0 && q->logprobs != NULL;
            if ((s = sl_server_out_add_tokens(d, j, q->out + k, lp ? q->logprobs + k : NULL,
                                              lp ? q->num_top + k : NULL,
                                              lp && top ? q->top_ids + k * top : NULL,
                                              lp && top ? q->top_logprobs + k * top : NULL,
                                              count)) != SL_OK)
                return s;
            en->pub_tokens[j] = q->num_out;
        }
        if (q->stop.emitted > en->pub_text[j]) {
            if ((s = sl_server_out_add_text(d, j, q->stop.text + en->pub_text[j],
                                            q->stop.emitted - en->pub_text[j])) != SL_OK)
                return s;
            en->pub_text[j] = q->stop.emitted;
        }
        if (q->state == SL_SEQ_FINISHED)
            d->seqs[j].finish = q->finish_reason;
    }
    return SL_OK;
}

/* Adds finished request R to the group's counters and histograms. */
static void sl_server_local_observe(sl_server_local_t *L, const sl_request_t *r)
{
    sl_server_stats_t *st = &L->base.stats;
    sl_request_latency_t lat;
    int k;

    sl_request_latency(r, &lat);
    switch (r->seqs[0].finish_reason) {
    case SL_FINISH_STOP: k = SL_SERVER_DONE_STOP; break;
    case SL_FINISH_LENGTH: k = SL_SERVER_DONE_LENGTH; break;
    case SL_FINISH_ABORT: k = SL_SERVER_DONE_ABORT; break;
    default: k = SL_SERVER_DONE_ERROR; break;
    }
    pthread_mutex_lock(&L->base.stats_lock);
    st->finished[k]++;
    if (r->timing.first_token > 0)
        sl_server_hist_observe(&st->hist[SL_SERVER_HIST_TTFT], SL_SERVER_HIST_TTFT, lat.ttft);
    if (k != SL_SERVER_DONE_ERROR)
        sl_server_hist_observe(&st->hist[SL_SERVER_HIST_E2E], SL_SERVER_HIST_E2E, lat.e2e);
    for (int32_t j = 0; j < r->params.n; j++) {
        const sl_sequence_t *q = &r->seqs[j];
        for (int32_t i = 1; q->token_times != NULL && i < q->num_out; i++)
            sl_server_hist_observe(&st->hist[SL_SERVER_HIST_ITL], SL_SERVER_HIST_ITL,
                                   q->token_times[i] - q->token_times[i - 1]);
    }
    pthread_mutex_unlock(&L->base.stats_lock);
}

static void sl_server_entry_free(sl_server_entry_t *en)
{
    free(en->pub_tokens);
    free(en->pub_text);
    sl_server_out_free(&en->delta);
    sl_server_ticket_unref(en->ticket);
}

/* Drops entry I (the last one takes its place): the ticket is done. */
static void sl_server_local_drop(sl_server_local_t *L, size_t i)
{
    sl_server_entry_free(&L->entries[i]);
    L->entries[i] = L->entries[--L->num_entries];
    atomic_fetch_sub(&L->base.inflight, 1);
}

/* Request R finished: its last delta, its end, its metrics. */
static void sl_server_local_finish(sl_server_local_t *L, sl_request_t *r)
{
    size_t i;

    for (i = 0; i < L->num_entries && L->entries[i].ticket->id != r->id; i++)
        ;
    if (i == L->num_entries) {
        sl_error("internal: the engine finished request %llu, which no ticket waits for",
                 (unsigned long long)r->id);
        sl_request_free(r);
        return;
    }
    sl_server_entry_t *en = &L->entries[i];
    sl_server_local_observe(L, r);
    if (sl_server_local_delta(en, r) != SL_OK) {
        sl_server_ticket_fail(en->ticket, 500, "the server ran out of memory");
    } else if (r->seqs[0].finish_reason == SL_FINISH_ERROR) {
        /* Refused at submission (the prompt and max_tokens cannot fit). */
        sl_server_ticket_fail(en->ticket, 400, r->error != NULL ? r->error : "cannot run");
    } else {
        en->delta.done = true;
        en->delta.prompt_tokens = r->prompt_len;
        en->delta.cached_tokens = r->cached_tokens;
        sl_server_ticket_publish(en->ticket, &en->delta);
    }
    sl_request_free(r);
    sl_server_local_drop(L, i);
}

/* What the step produced for every request still in the engine. */
static void sl_server_local_publish(sl_server_local_t *L)
{
    sl_request_t *r;

    while ((r = sl_engine_poll(L->engine)) != NULL)
        sl_server_local_finish(L, r);
    for (size_t i = 0; i < L->num_entries;) {
        sl_server_entry_t *en = &L->entries[i];
        const sl_request_t *q = en->req;
        if (q == NULL) {
            sl_error("internal: request %llu left the engine unseen",
                     (unsigned long long)en->ticket->id);
            sl_server_ticket_fail(en->ticket, 500, "internal error (see the server log)");
            sl_server_local_drop(L, i);
            continue;
        }
        if (sl_server_local_delta(en, q) != SL_OK)
            sl_server_ticket_fail(en->ticket, 500, "the server ran out of memory");
        else if (sl_server_out_has_news(&en->delta))
            sl_server_ticket_publish(en->ticket, &en->delta);
        i++;
    }
}

/* The engine's gauges and counters into the group's stats. */
static void sl_server_local_stats(sl_server_local_t *L)
{
    sl_engine_stats_t es;
    int64_t running = 0;

    sl_engine_get_stats(L->engine, &es);
    for (size_t i = 0; i < L->num_entries; i++)
        running += L->entries[i].req != NULL && L->entries[i].req->scheduled;
    pthread_mutex_lock(&L->base.stats_lock);
    sl_server_stats_t *st = &L->base.stats;
    st->running = running;
    st->waiting = (int64_t)L->num_entries - running;
    st->kv_blocks = es.kv.num_blocks;
    st->kv_used = es.kv.num_blocks - es.kv.free_blocks;
    st->prompt_tokens = es.prompt_tokens;
    st->generation_tokens = es.generated_tokens;
    st->prefix_query_tokens = es.kv.query_tokens;
    st->prefix_hit_tokens = es.kv.hit_tokens;
    st->preemptions = es.preemptions;
    st->steps = es.steps;
    pthread_mutex_unlock(&L->base.stats_lock);
}

/* ---- the engine thread ------------------------------------------------------------- */

/* Puts ticket T into the engine, or fails it. */
static void sl_server_local_admit(sl_server_local_t *L, sl_server_ticket_t *t)
{
    sl_server_entry_t *en;
    int32_t n = t->params.n;

    if (sl_server_ticket_cancelled(t)) {
        sl_server_ticket_fail(t, 499, "the client went away");
        goto err_drop;
    }
    if (L->num_entries == L->cap_entries) {
        size_t cap = L->cap_entries ? 2 * L->cap_entries : 64;
        sl_server_entry_t *p = realloc(L->entries, cap * sizeof(*p));
        if (p == NULL)
            goto err_memory;
        L->entries = p;
        L->cap_entries = cap;
    }
    en = &L->entries[L->num_entries];
    memset(en, 0, sizeof(*en));
    en->pub_tokens = calloc((size_t)n, sizeof(*en->pub_tokens));
    en->pub_text = calloc((size_t)n, sizeof(*en->pub_text));
    if (en->pub_tokens == NULL || en->pub_text == NULL ||
        sl_server_out_init(&en->delta, n, t->out.top_n) != SL_OK) {
        free(en->pub_tokens);
        free(en->pub_text);
        goto err_memory;
    }
    if (sl_engine_submit(L->engine, t->id, t->prompt, t->prompt_len, &t->params) != SL_OK) {
        /* The HTTP layer checked everything the engine checks; the log says what. */
        sl_server_ticket_fail(t, 400, "the engine refused the request's parameters "
                                      "(the server log says why)");
        en->ticket = NULL;
        sl_server_entry_free(en);
        goto err_drop;
    }
    en->ticket = t;
    /* NULL when it finished at once (it cannot run): the next poll has it. */
    en->req = sl_engine_find(L->engine, t->id);
    L->num_entries++;
    return;

err_memory:
    sl_error("out of memory for request %llu", (unsigned long long)t->id);
    sl_server_ticket_fail(t, 500, "the server ran out of memory");
err_drop:
    sl_server_ticket_unref(t);
    atomic_fetch_sub(&L->base.inflight, 1);
}

/* Fails every ticket of the group (stop, or the engine broke). */
static void sl_server_local_fail_all(sl_server_local_t *L, int status, const char *why)
{
    while (L->num_entries > 0) {
        sl_server_ticket_fail(L->entries[L->num_entries - 1].ticket, status, why);
        sl_server_local_drop(L, L->num_entries - 1);
    }
    pthread_mutex_lock(&L->lock);
    for (size_t i = 0; i < L->num_inbox; i++) {
        sl_server_ticket_fail(L->inbox[i], status, why);
        sl_server_ticket_unref(L->inbox[i]);
        atomic_fetch_sub(&L->base.inflight, 1);
    }
    L->num_inbox = 0;
    pthread_mutex_unlock(&L->lock);
}

static void *sl_server_local_main(void *arg)
{
    sl_server_local_t *L = arg;
    sl_status_t s = SL_OK;

    atomic_store(&L->base.ready, true);
    for (;;) {
        size_t taken;
        pthread_mutex_lock(&L->lock);
        while (!L->stopping && L->num_inbox == 0 && L->num_entries == 0)
            pthread_cond_wait(&L->wake, &L->lock);
        if (L->stopping) {
            pthread_mutex_unlock(&L->lock);
            break;
        }
        /* Swap the inbox out, so HTTP threads never wait for a step. */
        sl_server_ticket_t **in = L->inbox;
        size_t cap = L->cap_inbox;
        taken = L->num_inbox;
        L->inbox = L->taken;
        L->cap_inbox = L->cap_taken;
        L->num_inbox = 0;
        L->taken = in;
        L->cap_taken = cap;
        pthread_mutex_unlock(&L->lock);

        for (size_t i = 0; i < taken; i++)
            sl_server_local_admit(L, L->taken[i]);
        for (size_t i = 0; i < L->num_entries; i++) {
            sl_server_entry_t *en = &L->entries[i];
            if (!en->aborted && sl_server_ticket_cancelled(en->ticket)) {
                sl_engine_abort(L->engine, en->ticket->id); /* frees its KV blocks */
                en->aborted = true;
            }
        }
        if (sl_engine_has_work(L->engine) && (s = sl_engine_step(L->engine)) != SL_OK)
            break;
        sl_server_local_publish(L);
        sl_server_local_stats(L);
    }
    if (s != SL_OK) {
        sl_error("DP group %d: the engine failed (%s); its requests fail with 500",
                 L->base.index, sl_status_string(s));
        atomic_store(&L->base.failed, true);
        sl_server_local_fail_all(L, 500, "the engine failed (see the server log)");
    } else {
        sl_server_local_fail_all(L, 503, "the server is shutting down");
    }
    atomic_store(&L->base.ready, false);
    return NULL;
}

/* ---- the vtable --------------------------------------------------------------------- */

static sl_status_t sl_server_local_submit(sl_server_group_t *g, sl_server_ticket_t *t)
{
    sl_server_local_t *L = (sl_server_local_t *)g;
    sl_status_t s = SL_OK;

    pthread_mutex_lock(&L->lock);
    if (L->stopping || atomic_load(&g->failed)) {
        s = SL_ERR_INTERRUPTED;
    } else if (L->num_inbox == L->cap_inbox) {
        size_t cap = L->cap_inbox ? 2 * L->cap_inbox : 64;
        sl_server_ticket_t **p = realloc(L->inbox, cap * sizeof(*p));
        if (p == NULL) {
            sl_error("out of memory for the queue of DP group %d", g->index);
            s = SL_ERR_NO_MEMORY;
        } else {
            L->inbox = p;
            L->cap_inbox = cap;
        }
    }
    if (s == SL_OK) {
        sl_server_ticket_ref(t);
        atomic_store(&t->group, g->index);
        atomic_fetch_add(&g->inflight, 1);
        L->inbox[L->num_inbox++] = t;
        pthread_cond_signal(&L->wake);
    }
    pthread_mutex_unlock(&L->lock);
    return s;
}

static void sl_server_local_cancel(sl_server_group_t *g, sl_server_ticket_t *t)
{
    (void)g;
    (void)t; /* the engine thread checks the flag before every step */
}

static void sl_server_local_stop(sl_server_group_t *g)
{
    sl_server_local_t *L = (sl_server_local_t *)g;

    pthread_mutex_lock(&L->lock);
    L->stopping = true;
    pthread_cond_signal(&L->wake);
    pthread_mutex_unlock(&L->lock);
    if (L->started) {
        pthread_join(L->thread, NULL);
        L->started = false;
    }
}

static void sl_server_local_destroy(sl_server_group_t *g)
{
    sl_server_local_t *L = (sl_server_local_t *)g;

    sl_server_local_stop(g);
    free(L->entries);
    free(L->inbox);
    free(L->taken);
    pthread_cond_destroy(&L->wake);
    pthread_mutex_destroy(&L->lock);
    pthread_mutex_destroy(&g->stats_lock);
    free(L);
}

static const sl_server_group_ops_t sl_server_local_ops = {
    .submit = sl_server_local_submit,
    .cancel = sl_server_local_cancel,
    .stop = sl_server_local_stop,
    .destroy = sl_server_local_destroy,
};

sl_status_t sl_server_local_create(int index, sl_engine_t *engine, sl_server_group_t **group_p)
{
    sl_server_local_t *L = calloc(1, sizeof(*L));

    if (L == NULL) {
        sl_error("out of memory for DP group %d", index);
        return SL_ERR_NO_MEMORY;
    }
    sl_server_group_init(&L->base, &sl_server_local_ops, index);
    L->engine = engine;
    pthread_mutex_init(&L->lock, NULL);
    pthread_cond_init(&L->wake, NULL);
    sl_server_local_stats(L);
    if (pthread_create(&L->thread, NULL, sl_server_local_main, L) != 0) {
        sl_error("cannot start the engine thread of DP group %d", index);
        sl_server_local_destroy(&L->base);
        return SL_ERR_INTERNAL;
    }
    L->started = true;
    *group_p = &L->base;
    return SL_OK;
}
