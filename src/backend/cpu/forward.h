/*
 * forward.h - one TP rank of the CPU backend: its weights, KV cache, scratch
 * buffers, and the forward pass of a Llama-family decoder over a batch.
 *
 * Every rank runs sl_cpu_rank_forward() on the same step at the same time
 * (cpu_backend.c starts them); they meet in the collectives of comm.h:
 * all-reduce after the vocab-parallel embedding and after each row-parallel
 * projection (o_proj, down_proj), all-gather of the vocab-parallel logits.
 */
#ifndef SL_BACKEND_CPU_FORWARD_H
#define SL_BACKEND_CPU_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "backend/batch.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/threadpool.h"
#include "comm/comm.h"
#include "core/status.h"
#include "model/model.h"

/* What all ranks share for one step (computed once, read-only). */
typedef struct sl_cpu_step {
    const sl_batch_t *batch;
    const int32_t *positions; /* [num_tokens] */
    const int32_t *seq_of;    /* [num_tokens] */
    const int64_t *slots;     /* [num_tokens] KV cache slots */
    float *logits;            /* [num_logits, vocab] written by rank 0 */
} sl_cpu_step_t;

/* Activations for up to cap_tokens tokens and cap_logits logit rows. */
typedef struct sl_cpu_scratch {
    size_t cap_tokens, cap_logits;
    float *x;        /* [tokens, hidden] sublayer output (then the next delta) */
    float *residual; /* [tokens, hidden] residual stream                       */
    float *xn;       /* [tokens, hidden] normalised input of a sublayer        */
    float *q;        /* [tokens, heads, head_dim]                              */
    float *k, *v;    /* [tokens, kv_heads, head_dim]                           */
    float *attn;     /* [tokens, heads, head_dim]                              */
    float *gate, *up; /* [tokens, intermediate]                                */
    float *xl, *rl;  /* [logits, hidden] rows that need logits                 */
    float *lg;       /* [logits, vocab_local] this rank's logits               */
    float *gathered; /* [logits, vocab] rank-major blocks (rank 0 only)        */
} sl_cpu_scratch_t;

typedef struct sl_cpu_rank {
    const sl_model_config_t *config;
    const sl_rank_weights_t *w;
    sl_comm_t *comm;
    sl_cpu_pool_t *pool;
    const sl_rope_table_t *rope;
    int32_t block_size, num_blocks;
    float **k_cache, **v_cache; /* [num_layers] each [num_blocks, block_size, kv_heads, head_dim] */
    sl_cpu_scratch_t s;
} sl_cpu_rank_t;

/* Allocates the KV cache of R (its fields config, w, block_size and
 * num_blocks set). */
sl_status_t sl_cpu_rank_init_cache(sl_cpu_rank_t *r);

/* Makes R's scratch hold TOKENS tokens and LOGITS logit rows. */
sl_status_t sl_cpu_rank_reserve(sl_cpu_rank_t *r, size_t tokens, size_t logits);

/* Frees the cache and scratch (not the pool, comm or weights). */
void sl_cpu_rank_release(sl_cpu_rank_t *r);

/* The forward pass of STEP on rank R. Cannot fail: the batch was validated
 * and the scratch reserved before the ranks started. */
void sl_cpu_rank_forward(sl_cpu_rank_t *r, const sl_cpu_step_t *step);

#endif /* SL_BACKEND_CPU_FORWARD_H */
