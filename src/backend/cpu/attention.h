/*
 * attention.h - causal grouped-query attention over a paged KV cache, prefill
 * and decode in one pass; the CPU twin of the GPU paged-attention kernel.
 *
 * Cache layout, per layer and rank: [num_blocks, block_size, kv_heads,
 * head_dim] for K and for V (a slot is one token's K or V for all KV heads).
 * sl_cpu_kv_store() writes a step's new tokens into their slots;
 * sl_cpu_paged_attention() then lets each new token attend to positions
 * [lo, pos] of its own sequence, lo = 0 or pos - window + 1 with a sliding
 * window, reading them through the sequence's block table. Query head h uses
 * KV head h / (heads / kv_heads). Softmax is computed online, block by block
 * (running max and sum, as flash attention does), in float32.
 */
#ifndef SL_BACKEND_CPU_ATTENTION_H
#define SL_BACKEND_CPU_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "backend/batch.h"
#include "backend/cpu/threadpool.h"

/* Largest block_size and head_dim the kernels take (checked at creation). */
#define SL_ATTN_MAX_BLOCK 256
#define SL_ATTN_MAX_HEAD_DIM 1024

typedef struct sl_attn_params {
    int32_t num_heads;    /* query heads (of this rank)          */
    int32_t num_kv_heads; /* KV heads; divides num_heads         */
    int32_t head_dim;
    int32_t block_size;
    float scale;          /* scores = q.k * scale (1/sqrt(head_dim)) */
    int64_t window;       /* sliding window in positions; 0: none */
} sl_attn_params_t;

/*
 * k_cache, v_cache: [num_blocks, block_size, kv_heads, head_dim] written at SLOTS
 * k, v:             [n, kv_heads, head_dim]
 * slots:            [n] from sl_batch_slots()
 */
void sl_cpu_kv_store(float *k_cache, float *v_cache, const float *k, const float *v,
                     const int64_t *slots, size_t n, size_t kv_heads, size_t head_dim);

/*
 * out:       [batch->num_tokens, heads, head_dim] written
 * q:         [batch->num_tokens, heads, head_dim] (RoPE applied)
 * k_cache, v_cache: as above, holding every position the tokens attend to
 * positions, seq_of: [num_tokens] from sl_batch_positions()
 * pool:      may be NULL; threads split the (token, head) pairs
 */
void sl_cpu_paged_attention(sl_cpu_pool_t *pool, float *out, const float *q,
                            const float *k_cache, const float *v_cache, const sl_batch_t *batch,
                            const int32_t *positions, const int32_t *seq_of,
                            const sl_attn_params_t *params);

#endif /* SL_BACKEND_CPU_ATTENTION_H */
