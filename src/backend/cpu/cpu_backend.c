/* cpu_backend.c - TP rank threads running the CPU forward; see cpu_backend.h. */
#include "config.h"

#include "backend/cpu/cpu_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/argmax.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/forward.h"
#include "core/log.h"

typedef struct sl_cpu_backend sl_cpu_backend_t;

typedef struct sl_cpu_rank_thread {
    sl_cpu_backend_t *backend;
    int rank;
    pthread_t thread;
} sl_cpu_rank_thread_t;

struct sl_cpu_backend {
    sl_backend_t base; /* first: an sl_backend_t * is an sl_cpu_backend_t * */
    const sl_model_t *model;
    int tp;
    sl_comm_group_t *comm;
    sl_rope_table_t *rope;
    sl_cpu_rank_t *ranks;          /* [tp] */
    sl_cpu_rank_thread_t *threads; /* [tp - 1] ranks 1.. */
    int threads_started;
    /* step hand-off to ranks 1..tp-1 */
    pthread_mutex_t mutex;
    pthread_cond_t start, done;
    unsigned long step_id;
    int pending, stop;
    sl_cpu_step_t step;
    /* per-step token tables, [cap] */
    size_t cap;
    int32_t *positions, *seq_of;
    int64_t *slots;
    /* forward_greedy's logits, [cap_logits] floats */
    float *logits;
    size_t cap_logits;
};

static void *sl_cpu_rank_main(void *arg)
{
    sl_cpu_rank_thread_t *t = arg;
    sl_cpu_backend_t *be = t->backend;
    unsigned long seen = 0;

    pthread_mutex_lock(&be->mutex);
    for (;;) {
        while (!be->stop && be->step_id == seen)
            pthread_cond_wait(&be->start, &be->mutex);
        if (be->stop)
            break;
        seen = be->step_id;
        pthread_mutex_unlock(&be->mutex);
        sl_cpu_rank_forward(&be->ranks[t->rank], &be->step);
        pthread_mutex_lock(&be->mutex);
        if (--be->pending == 0)
            pthread_cond_signal(&be->done);
    }
    pthread_mutex_unlock(&be->mutex);
    return NULL;
}

/* Grows the token tables and every rank's scratch for BATCH (before the
 * ranks start, so that nothing can fail inside the forward pass). */
static sl_status_t sl_cpu_reserve(sl_cpu_backend_t *be, const sl_batch_t *batch)
{
    size_t n = (size_t)batch->num_tokens;
    sl_status_t s;

    if (n > be->cap) {
        int32_t *pos = realloc(be->positions, n * sizeof(*pos));
        if (pos != NULL)
            be->positions = pos;
        int32_t *seq = realloc(be->seq_of, n * sizeof(*seq));
        if (seq != NULL)
            be->seq_of = seq;
        int64_t *slots = realloc(be->slots, n * sizeof(*slots));
        if (slots != NULL)
            be->slots = slots;
        if (pos == NULL || seq == NULL || slots == NULL) {
            sl_error("out of memory for a batch of %zu tokens", n);
            return SL_ERR_NO_MEMORY;
        }
        be->cap = n;
    }
    for (int r = 0; r < be->tp; r++)
        if ((s = sl_cpu_rank_reserve(&be->ranks[r], n, (size_t)batch->num_logits)) != SL_OK)
            return s;
    return SL_OK;
}

static sl_status_t sl_cpu_forward(sl_backend_t *base, const sl_batch_t *batch, float *logits)
{
    sl_cpu_backend_t *be = (sl_cpu_backend_t *)base;
    sl_status_t s;

    if ((s = sl_batch_validate(batch, &be->base.limits)) != SL_OK ||
        (s = sl_cpu_reserve(be, batch)) != SL_OK)
        return s;
    sl_batch_positions(batch, be->positions, be->seq_of);
    sl_batch_slots(batch, be->positions, be->seq_of, be->base.limits.block_size, be->slots);
    be->step = (sl_cpu_step_t){
        .batch = batch, .positions = be->positions, .seq_of = be->seq_of,
        .slots = be->slots, .logits = logits,
    };
    if (be->tp > 1) {
        pthread_mutex_lock(&be->mutex);
        be->pending = be->tp - 1;
        be->step_id++;
        pthread_cond_broadcast(&be->start);
        pthread_mutex_unlock(&be->mutex);
    }
    sl_cpu_rank_forward(&be->ranks[0], &be->step);
    if (be->tp > 1) {
        pthread_mutex_lock(&be->mutex);
        while (be->pending > 0)
            pthread_cond_wait(&be->done, &be->mutex);
        pthread_mutex_unlock(&be->mutex);
    }
    return SL_OK;
}

/* The forward, then the argmax twin of the GPU's (argmax.h). */
static sl_status_t sl_cpu_forward_greedy(sl_backend_t *base, const sl_batch_t *batch,
                                         int32_t *tokens)
{
    sl_cpu_backend_t *be = (sl_cpu_backend_t *)base;
    size_t vocab = (size_t)base->limits.vocab_size;
    size_t need = (size_t)batch->num_logits * vocab;
    sl_status_t s;

    if (need > be->cap_logits) {
        float *more = realloc(be->logits, need * sizeof(*more));
        if (more == NULL) {
            sl_error("cpu backend: out of memory for %zu logits", need);
            return SL_ERR_NO_MEMORY;
        }
        be->logits = more;
        be->cap_logits = need;
    }
    if ((s = sl_cpu_forward(base, batch, be->logits)) != SL_OK)
        return s;
    sl_cpu_argmax(be->logits, (size_t)batch->num_logits, vocab, 0, tokens, NULL);
    return SL_OK;
}

static void sl_cpu_destroy(sl_backend_t *base)
{
    sl_cpu_backend_t *be = (sl_cpu_backend_t *)base;

    pthread_mutex_lock(&be->mutex);
    be->stop = 1;
    pthread_cond_broadcast(&be->start);
    pthread_mutex_unlock(&be->mutex);
    for (int i = 0; i < be->threads_started; i++)
        pthread_join(be->threads[i].thread, NULL);
    for (int r = 0; be->ranks != NULL && r < be->tp; r++) {
        sl_cpu_pool_free(be->ranks[r].pool);
        sl_cpu_rank_release(&be->ranks[r]);
    }
    pthread_cond_destroy(&be->done);
    pthread_cond_destroy(&be->start);
    pthread_mutex_destroy(&be->mutex);
    free(be->ranks);
    free(be->threads);
    free(be->positions);
    free(be->seq_of);
    free(be->slots);
    free(be->logits);
    sl_rope_table_free(be->rope);
    sl_comm_group_free(be->comm);
    free(be);
}

static const sl_backend_ops_t sl_cpu_ops = {
    .forward = sl_cpu_forward,
    .forward_greedy = sl_cpu_forward_greedy,
    .destroy = sl_cpu_destroy,
};

/* Checks OPT against MODEL and fills the backend's limits. */
static sl_status_t sl_cpu_limits(const sl_model_t *model, const sl_backend_options_t *opt,
                                 sl_batch_limits_t *lim)
{
    const sl_model_config_t *c = model->config;
    int64_t capacity;

    lim->block_size = opt->block_size > 0 ? opt->block_size : 16;
    lim->num_blocks = opt->num_blocks;
    lim->vocab_size = (int32_t)c->vocab_size;
    if (lim->block_size > SL_ATTN_MAX_BLOCK || opt->block_size < 0) {
        sl_error("KV block size %d: must be 1 to %d", opt->block_size, SL_ATTN_MAX_BLOCK);
        return SL_ERR_INVALID_ARG;
    }
    if (opt->num_blocks < 1) {
        sl_error("KV cache of %d blocks: needs at least one", opt->num_blocks);
        return SL_ERR_INVALID_ARG;
    }
    if (c->head_dim > SL_ATTN_MAX_HEAD_DIM) {
        sl_error("head_dim %lld: the CPU attention takes at most %d", (long long)c->head_dim,
                 SL_ATTN_MAX_HEAD_DIM);
        return SL_ERR_UNSUPPORTED;
    }
    /* A sequence cannot hold more positions than the cache has slots. */
    capacity = (int64_t)lim->num_blocks * lim->block_size;
    lim->max_position = (int32_t)(c->max_position < capacity ? c->max_position : capacity);
    return SL_OK;
}

sl_status_t sl_cpu_backend_create(const sl_model_t *model, const sl_backend_options_t *opt,
                                  sl_backend_t **backend_p)
{
    sl_cpu_backend_t *be = calloc(1, sizeof(*be));
    int threads = opt->threads > 0 ? opt->threads : sl_cpu_default_threads();
    int per_rank;
    sl_status_t s;

    if (be == NULL) {
        sl_error("out of memory creating the CPU backend");
        return SL_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&be->mutex, NULL);
    pthread_cond_init(&be->start, NULL);
    pthread_cond_init(&be->done, NULL);
    be->base.ops = &sl_cpu_ops;
    be->base.name = "cpu";
    be->model = model;
    be->tp = model->tp;
    per_rank = threads / be->tp > 0 ? threads / be->tp : 1;
    if ((s = sl_cpu_limits(model, opt, &be->base.limits)) != SL_OK ||
        (s = sl_rope_table_create(&model->config->rope, be->base.limits.max_position,
                                  &be->rope)) != SL_OK ||
        (s = sl_comm_group_create(be->tp, &be->comm)) != SL_OK)
        goto err;
    be->ranks = calloc((size_t)be->tp, sizeof(*be->ranks));
    be->threads = calloc((size_t)be->tp, sizeof(*be->threads));
    if (be->ranks == NULL || be->threads == NULL) {
        sl_error("out of memory creating %d CPU ranks", be->tp);
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    for (int r = 0; r < be->tp; r++) {
        sl_cpu_rank_t *rank = &be->ranks[r];
        rank->config = model->config;
        rank->w = &model->ranks[r];
        rank->comm = sl_comm_group_rank(be->comm, r);
        rank->rope = be->rope;
        rank->block_size = be->base.limits.block_size;
        rank->num_blocks = be->base.limits.num_blocks;
        if ((s = sl_cpu_pool_create(per_rank, &rank->pool)) != SL_OK ||
            (s = sl_cpu_rank_init_cache(rank)) != SL_OK)
            goto err;
    }
    for (int r = 1; r < be->tp; r++) {
        sl_cpu_rank_thread_t *t = &be->threads[r - 1];
        int err;
        t->backend = be;
        t->rank = r;
        err = pthread_create(&t->thread, NULL, sl_cpu_rank_main, t);
        if (err != 0) {
            sl_error("pthread_create for TP rank %d: %s", r, strerror(err));
            s = SL_ERR_NO_MEMORY;
            goto err;
        }
        be->threads_started++;
    }
    sl_debug("CPU backend: TP %d, %d threads per rank, %d KV blocks of %d", be->tp, per_rank,
             be->base.limits.num_blocks, be->base.limits.block_size);
    *backend_p = &be->base;
    return SL_OK;
err:
    sl_cpu_destroy(&be->base);
    return s;
}
