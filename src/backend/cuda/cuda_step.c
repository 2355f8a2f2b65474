/*
 * cuda_step.c - the host side of a step: checks the batch, decides how it
 * runs (a graph of a padded decode size, or eagerly with the tokens split
 * between the prefill and decode attention kernels), and packs every array
 * the kernels read into one pinned buffer that each rank uploads with one
 * copy.
 *
 * Padding a decode batch to a captured size: the extra rows are token 0 at
 * position 0 of a sequence whose block table is the scratch block
 * (num_blocks, never handed to the engine), so they write their K/V there
 * and their results are never read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

void sl_cuda_layout(int32_t tokens, int32_t seqs, int32_t logits, int32_t decode,
                    int32_t tiles, int64_t block_entries, sl_cuda_layout_t *l)
{
    size_t cur = 0;
    /* every array 16-byte aligned */
#define SL_AT(FIELD, BYTES)                                                                   \
    do {                                                                                      \
        l->FIELD = cur;                                                                       \
        cur = (cur + (size_t)(BYTES) + 15) & ~(size_t)15;                                     \
    } while (0)
    SL_AT(tokens, (size_t)tokens * 4);
    SL_AT(positions, (size_t)tokens * 4);
    SL_AT(seq_of, (size_t)tokens * 4);
    SL_AT(slots, (size_t)tokens * 8);
    SL_AT(block_offset, (size_t)seqs * 4);
    SL_AT(logit_rows, (size_t)logits * 4);
    SL_AT(decode_tokens, (size_t)decode * 4);
    SL_AT(tiles, (size_t)tiles * 16);
    SL_AT(block_tables, (size_t)block_entries * 4);
#undef SL_AT
    l->bytes = cur;
}

/* Makes the pinned step buffer hold BYTES. */
static sl_status_t sl_cuda_arena_reserve(sl_cuda_backend_t *be, size_t bytes)
{
    void *p;
    size_t cap;

    if (bytes <= be->arena_cap)
        return SL_OK;
    cap = bytes + bytes / 2;
    /* Portable: every rank's device reads it. */
    cudaError_t e = cudaHostAlloc(&p, cap, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        sl_error("cudaHostAlloc of %zu bytes for a step: %s", cap, cudaGetErrorString(e));
        return SL_ERR_NO_MEMORY;
    }
    if (be->arena_host != NULL)
        (void)cudaFreeHost(be->arena_host);
    be->arena_host = p;
    be->arena_cap = cap;
    return SL_OK;
}

/* The smallest captured batch size >= N, or 0. */
static int sl_cuda_graph_size(const sl_cuda_backend_t *be, int32_t n)
{
    for (int i = 0; i < be->num_graph_sizes; i++)
        if (be->graph_sizes[i] >= n)
            return be->graph_sizes[i];
    return 0;
}

static int sl_cuda_is_decode_batch(const sl_batch_t *b)
{
    if (b->num_tokens != b->num_seqs || b->num_logits != b->num_tokens)
        return 0;
    for (int32_t i = 0; i < b->num_logits; i++)
        if (b->logit_indices[i] != i)
            return 0;
    return 1; /* num_tokens == num_seqs with each >= 1: one token each */
}

sl_status_t sl_cuda_plan_step(sl_cuda_backend_t *be, const sl_batch_t *b, int greedy,
                              float *logits, int32_t *tokens_out)
{
    const sl_model_config_t *c = be->config;
    const int32_t bs = be->block_size, hd = (int32_t)c->head_dim;
    const int32_t heads = be->ranks[0].heads, kv_heads = be->ranks[0].kv_heads;
    const int prefill_ok = sl_cuda_attention_prefill_supported(hd);
    sl_cuda_step_t *st = &be->step;
    int64_t entries = 0, max_keys = 1;
    int32_t n_decode = 0, n_tiles = 0;
    sl_status_t s;

    if ((s = sl_batch_validate(b, &be->base.limits)) != SL_OK)
        return s;
    if (b->num_tokens > be->max_tokens) {
        sl_error("CUDA backend: a step of %d tokens; the backend was sized for %d "
                 "(max_tokens)",
                 b->num_tokens, be->max_tokens);
        return SL_ERR_INVALID_ARG;
    }
    sl_batch_positions(b, be->pos_tmp, be->seq_of_tmp);
    sl_batch_slots(b, be->pos_tmp, be->seq_of_tmp, bs, be->slots_tmp);

    memset(st, 0, sizeof(*st));
    st->greedy = greedy;
    st->logits = logits;
    st->tokens_out = tokens_out;
    st->real_logits = b->num_logits;
    st->graph_bs = sl_cuda_is_decode_batch(b) ? sl_cuda_graph_size(be, b->num_tokens) : 0;

    for (int32_t i = 0; i < b->num_seqs; i++) {
        const sl_batch_seq_t *q = &b->seqs[i];
        int64_t end = (int64_t)q->start_pos + q->num_tokens;
        entries += (end + bs - 1) / bs;
        if (st->graph_bs == 0 && prefill_ok && q->num_tokens >= be->prefill_min) {
            n_tiles += (q->num_tokens + SL_CUDA_ATTN_TILE - 1) / SL_CUDA_ATTN_TILE;
        } else {
            n_decode += q->num_tokens;
        }
        max_keys = end > max_keys ? end : max_keys;
    }
    if (st->graph_bs > 0) {
        int32_t g = st->graph_bs;
        st->num_tokens = st->num_seqs = st->num_logits = st->num_decode = g;
        st->num_tiles = 0;
        /* A graph is kept per split count: rounded up to a power of two, a
         * few graphs serve every context length. */
        int sp = sl_cuda_attention_splits(g, heads, kv_heads, hd, max_keys, be->attn_resident);
        st->splits = 1;
        while (st->splits < sp)
            st->splits *= 2;
        entries += 1; /* the scratch block of the padding rows */
    } else {
        st->num_tokens = b->num_tokens;
        st->num_seqs = b->num_seqs;
        st->num_logits = b->num_logits;
        st->num_decode = n_decode;
        st->num_tiles = n_tiles;
        st->splits = n_decode > 0 ? sl_cuda_attention_splits(n_decode, heads, kv_heads, hd,
                                                             max_keys, be->attn_resident)
                                  : 1;
    }
    st->block_entries = entries;
    sl_cuda_layout(st->num_tokens, st->num_seqs, st->num_logits, st->num_decode, st->num_tiles,
                   entries, &st->layout);
    if ((s = sl_cuda_arena_reserve(be, st->layout.bytes)) != SL_OK)
        return s;

    char *a = be->arena_host;
    int32_t *tokens = (int32_t *)(a + st->layout.tokens);
    int32_t *positions = (int32_t *)(a + st->layout.positions);
    int32_t *seq_of = (int32_t *)(a + st->layout.seq_of);
    int64_t *slots = (int64_t *)(a + st->layout.slots);
    int32_t *block_offset = (int32_t *)(a + st->layout.block_offset);
    int32_t *logit_rows = (int32_t *)(a + st->layout.logit_rows);
    int32_t *decode = (int32_t *)(a + st->layout.decode_tokens);
    int32_t *tiles = (int32_t *)(a + st->layout.tiles);
    int32_t *tables = (int32_t *)(a + st->layout.block_tables);

    memcpy(tokens, b->tokens, (size_t)b->num_tokens * 4);
    memcpy(positions, be->pos_tmp, (size_t)b->num_tokens * 4);
    memcpy(seq_of, be->seq_of_tmp, (size_t)b->num_tokens * 4);
    memcpy(slots, be->slots_tmp, (size_t)b->num_tokens * 8);
    if (b->num_logits > 0)
        memcpy(logit_rows, b->logit_indices, (size_t)b->num_logits * 4);

    int64_t e = 0;
    int32_t nd = 0, nt = 0, t0 = 0;
    for (int32_t i = 0; i < b->num_seqs; i++) {
        const sl_batch_seq_t *q = &b->seqs[i];
        int64_t need = ((int64_t)q->start_pos + q->num_tokens + bs - 1) / bs;
        block_offset[i] = (int32_t)e;
        memcpy(tables + e, q->block_table, (size_t)need * 4);
        e += need;
        if (st->graph_bs == 0 && prefill_ok && q->num_tokens >= be->prefill_min) {
            for (int32_t k = 0; k < q->num_tokens; k += SL_CUDA_ATTN_TILE, nt++) {
                tiles[nt * 4] = t0 + k;
                tiles[nt * 4 + 1] = q->num_tokens - k < SL_CUDA_ATTN_TILE ? q->num_tokens - k
                                                                           : SL_CUDA_ATTN_TILE;
                tiles[nt * 4 + 2] = i;
                tiles[nt * 4 + 3] = 0;
            }
        } else if (st->graph_bs == 0) {
            for (int32_t k = 0; k < q->num_tokens; k++)
                decode[nd++] = t0 + k;
        }
        t0 += q->num_tokens;
    }
    if (st->graph_bs > 0) {
        const int32_t scratch = be->num_blocks; /* the block past the engine's */
        tables[e] = scratch;
        for (int32_t i = 0; i < st->graph_bs; i++)
            decode[i] = i;
        for (int32_t i = b->num_tokens; i < st->graph_bs; i++) {
            tokens[i] = 0;
            positions[i] = 0;
            seq_of[i] = i;
            slots[i] = (int64_t)scratch * bs;
            block_offset[i] = (int32_t)e;
            logit_rows[i] = i;
        }
    }
    return SL_OK;
}
