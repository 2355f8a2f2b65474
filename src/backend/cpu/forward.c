/* forward.c - the decoder forward pass of one TP rank; see forward.h. */
#include "config.h"

#include "backend/cpu/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rmsnorm.h"
#include "core/log.h"

sl_status_t sl_cpu_rank_init_cache(sl_cpu_rank_t *r)
{
    const sl_model_config_t *c = r->config;
    size_t layers = (size_t)c->num_layers;
    size_t floats; /* per layer and K or V */

    if (__builtin_mul_overflow((size_t)r->num_blocks * (size_t)r->block_size,
                               (size_t)r->w->geometry.num_kv_heads * (size_t)c->head_dim,
                               &floats) ||
        floats > SIZE_MAX / sizeof(float)) {
        sl_error("KV cache of %d blocks of %d: size overflows", r->num_blocks, r->block_size);
        return SL_ERR_OVERFLOW;
    }
    r->k_cache = calloc(layers, sizeof(*r->k_cache));
    r->v_cache = calloc(layers, sizeof(*r->v_cache));
    if (r->k_cache == NULL || r->v_cache == NULL)
        goto nomem;
    for (size_t l = 0; l < layers; l++) {
        /* Zeroed so that a slot never written reads as 0, not garbage. */
        r->k_cache[l] = calloc(floats, sizeof(float));
        r->v_cache[l] = calloc(floats, sizeof(float));
        if (r->k_cache[l] == NULL || r->v_cache[l] == NULL)
            goto nomem;
    }
    return SL_OK;
nomem:
    sl_error("out of memory for the KV cache: %zu layers x 2 x %zu MiB", layers,
             floats * sizeof(float) >> 20);
    return SL_ERR_NO_MEMORY;
}

sl_status_t sl_cpu_rank_reserve(sl_cpu_rank_t *r, size_t tokens, size_t logits)
{
    const sl_model_config_t *c = r->config;
    const sl_rank_geometry_t *g = &r->w->geometry;
    sl_cpu_scratch_t *s = &r->s;
    size_t h = (size_t)c->hidden_size, hd = (size_t)c->head_dim;
    size_t vocal = (size_t)(g->vocab_end - g->vocab_begin);
    struct {
        float **p;
        size_t per_token; /* floats per token (or per logit row) */
        int logit_row;
    } bufs[] = {
        {&s->x, h, 0},
        {&s->residual, h, 0},
        {&s->xn, h, 0},
        {&s->q, (size_t)g->num_heads * hd, 0},
        {&s->k, (size_t)g->num_kv_heads * hd, 0},
        {&s->v, (size_t)g->num_kv_heads * hd, 0},
        {&s->attn, (size_t)g->num_heads * hd, 0},
        {&s->gate, (size_t)g->intermediate, 0},
        {&s->up, (size_t)g->intermediate, 0},
        {&s->xl, h, 1},
        {&s->rl, h, 1},
        {&s->lg, vocal, 1},
        {&s->gathered, g->rank == 0 ? (size_t)c->vocab_size : 0, 1},
    };

    if (tokens <= s->cap_tokens && logits <= s->cap_logits)
        return SL_OK;
    if (tokens < s->cap_tokens)
        tokens = s->cap_tokens;
    if (logits < s->cap_logits)
        logits = s->cap_logits;
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        size_t n = bufs[i].logit_row ? logits : tokens;
        size_t floats;
        float *p;
        if (__builtin_mul_overflow(n, bufs[i].per_token, &floats) ||
            floats > SIZE_MAX / sizeof(float)) {
            sl_error("scratch for %zu tokens: size overflows", tokens);
            return SL_ERR_OVERFLOW;
        }
        p = realloc(*bufs[i].p, floats * sizeof(float) + sizeof(float));
        if (p == NULL) {
            sl_error("out of memory for the activations of %zu tokens", tokens);
            return SL_ERR_NO_MEMORY;
        }
        *bufs[i].p = p;
    }
    s->cap_tokens = tokens;
    s->cap_logits = logits;
    return SL_OK;
}

void sl_cpu_rank_release(sl_cpu_rank_t *r)
{
    sl_cpu_scratch_t *s = &r->s;

    for (int64_t l = 0; r->k_cache != NULL && l < r->config->num_layers; l++)
        free(r->k_cache[l]);
    for (int64_t l = 0; r->v_cache != NULL && l < r->config->num_layers; l++)
        free(r->v_cache[l]);
    free(r->k_cache);
    free(r->v_cache);
    r->k_cache = r->v_cache = NULL;
    free(s->x);
    free(s->residual);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->attn);
    free(s->gate);
    free(s->up);
    free(s->xl);
    free(s->rl);
    free(s->lg);
    free(s->gathered);
    memset(s, 0, sizeof(*s));
}

/* x: [rows, cols] += partial sums of the other ranks; then + bias if any. */
static void sl_row_parallel_reduce(sl_cpu_rank_t *r, float *x, size_t rows, size_t cols,
                                   const float *bias)
{
    /* Cannot fail: every rank passes the same size. */
    (void)sl_comm_all_reduce_sum_f32(r->comm, x, rows * cols);
    if (bias != NULL)
        sl_cpu_add_bias(x, bias, rows, cols);
}

/* Final norm of the rows that need logits, LM head on this rank's vocabulary
 * range, and the gather of all ranks' ranges into step->logits (rank 0). */
static void sl_logits(sl_cpu_rank_t *r, const sl_cpu_step_t *step)
{
    const sl_model_config_t *c = r->config;
    const sl_batch_t *batch = step->batch;
    sl_cpu_scratch_t *s = &r->s;
    size_t h = (size_t)c->hidden_size, nl = (size_t)batch->num_logits;
    size_t vocab = (size_t)c->vocab_size, tp = (size_t)sl_comm_size(r->comm);
    size_t counts[4096]; /* [tp] floats each rank contributes */

    if (nl == 0)
        return;
    for (size_t i = 0; i < nl; i++) {
        size_t t = (size_t)batch->logit_indices[i];
        memcpy(s->xl + i * h, s->x + t * h, h * sizeof(float));
        memcpy(s->rl + i * h, s->residual + t * h, h * sizeof(float));
    }
    sl_cpu_rmsnorm(s->xl, s->xl, s->rl, r->w->final_norm, nl, h, (float)c->rms_norm_eps);
    sl_cpu_matmul(r->pool, s->lg, s->xl, &r->w->lm_head, NULL, nl); /* [nl, vocab_local] */

    for (size_t k = 0; k < tp; k++) {
        sl_rank_geometry_t g;
        sl_model_rank_geometry(c, (int)tp, (int)k, &g);
        counts[k] = nl * (size_t)(g.vocab_end - g.vocab_begin);
    }
    if (tp == 1) {
        memcpy(step->logits, s->lg, nl * vocab * sizeof(float));
        return;
    }
    (void)sl_comm_all_gatherv_f32(r->comm, s->lg, counts, r->w->geometry.rank == 0 ? s->gathered
                                                                                  : NULL);
    if (r->w->geometry.rank != 0)
        return;
    /* gathered holds rank k's [nl, vocab_k] block at nl * vocab_begin_k. */
    for (size_t k = 0, begin = 0; k < tp; k++) {
        size_t vk = counts[k] / nl;
        for (size_t i = 0; i < nl; i++)
            memcpy(step->logits + i * vocab + begin, s->gathered + nl * begin + i * vk,
                   vk * sizeof(float));
        begin += vk;
    }
}

void sl_cpu_rank_forward(sl_cpu_rank_t *r, const sl_cpu_step_t *step)
{
    const sl_model_config_t *c = r->config;
    const sl_rank_weights_t *w = r->w;
    const sl_rank_geometry_t *g = &w->geometry;
    const sl_batch_t *batch = step->batch;
    sl_cpu_scratch_t *s = &r->s;
    size_t n = (size_t)batch->num_tokens, h = (size_t)c->hidden_size;
    size_t hd = (size_t)c->head_dim, heads = (size_t)g->num_heads;
    size_t kv_heads = (size_t)g->num_kv_heads, inter = (size_t)g->intermediate;
    float eps = (float)c->rms_norm_eps;
    sl_attn_params_t attn = {
        .num_heads = (int32_t)heads, .num_kv_heads = (int32_t)kv_heads,
        .head_dim = (int32_t)hd, .block_size = r->block_size,
        .scale = (float)(1.0 / sqrt((double)hd)),
    };

    /* Embedding: each rank gathers its vocabulary rows, the sum is exact. */
    sl_cpu_embedding(s->x, batch->tokens, n, &w->embed, g->vocab_begin);
    sl_row_parallel_reduce(r, s->x, n, h, NULL);
    memset(s->residual, 0, n * h * sizeof(float));

    for (int64_t l = 0; l < c->num_layers; l++) {
        const sl_layer_weights_t *lw = &w->layers[l];

        /* Attention: residual += x; xn = norm(residual). */
        sl_cpu_rmsnorm(s->xn, s->x, s->residual, lw->attn_norm, n, h, eps);
        sl_cpu_matmul(r->pool, s->q, s->xn, &lw->wq, lw->bq, n);
        sl_cpu_matmul(r->pool, s->k, s->xn, &lw->wk, lw->bk, n);
        sl_cpu_matmul(r->pool, s->v, s->xn, &lw->wv, lw->bv, n);
        if (lw->q_norm != NULL) { /* Qwen3: RMSNorm of each head before RoPE */
            sl_cpu_rmsnorm(s->q, s->q, NULL, lw->q_norm, n * heads, hd, eps);
            sl_cpu_rmsnorm(s->k, s->k, NULL, lw->k_norm, n * kv_heads, hd, eps);
        }
        sl_cpu_rope(s->q, step->positions, n, heads, hd, r->rope);
        sl_cpu_rope(s->k, step->positions, n, kv_heads, hd, r->rope);
        sl_cpu_kv_store(r->k_cache[l], r->v_cache[l], s->k, s->v, step->slots, n, kv_heads, hd);
        attn.window = lw->window;
        sl_cpu_paged_attention(r->pool, s->attn, s->q, r->k_cache[l], r->v_cache[l], batch,
                               step->positions, step->seq_of, &attn);
        sl_cpu_matmul(r->pool, s->x, s->attn, &lw->wo, NULL, n); /* partial over our heads */
        sl_row_parallel_reduce(r, s->x, n, h, lw->bo);

        /* MLP: residual += x; xn = norm(residual); x = down(silu(gate) * up). */
        sl_cpu_rmsnorm(s->xn, s->x, s->residual, lw->mlp_norm, n, h, eps);
        sl_cpu_matmul(r->pool, s->gate, s->xn, &lw->w_gate, lw->b_gate, n);
        sl_cpu_matmul(r->pool, s->up, s->xn, &lw->w_up, lw->b_up, n);
        sl_cpu_silu_mul(s->gate, s->gate, s->up, n * inter);
        sl_cpu_matmul(r->pool, s->x, s->gate, &lw->w_down, NULL, n); /* partial */
        sl_row_parallel_reduce(r, s->x, n, h, lw->b_down);
    }
    sl_logits(r, step);
}
