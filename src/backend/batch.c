/* batch.c - checking a forward batch; see batch.h. */
#include "config.h"

#include "backend/batch.h"

#include <stddef.h>

#include "core/log.h"

sl_status_t sl_batch_validate(const sl_batch_t *b, const sl_batch_limits_t *lim)
{
    int64_t total = 0;

    if (b->num_seqs < 1 || b->seqs == NULL || b->num_tokens < 1 || b->tokens == NULL) {
        sl_error("batch: %d sequences and %d tokens; needs at least one of each", b->num_seqs,
                 b->num_tokens);
        return SL_ERR_INVALID_ARG;
    }
    for (int32_t s = 0; s < b->num_seqs; s++) {
        const sl_batch_seq_t *q = &b->seqs[s];
        int64_t end = (int64_t)q->start_pos + q->num_tokens; /* positions [start, end) */
        int64_t need;

        if (q->num_tokens < 1 || q->start_pos < 0) {
            sl_error("batch: sequence %d has %d tokens at start position %d", s, q->num_tokens,
                     q->start_pos);
            return SL_ERR_INVALID_ARG;
        }
        if (end > lim->max_position) {
            sl_error("batch: sequence %d reaches position %lld, beyond the model's %d", s,
                     (long long)end - 1, lim->max_position);
            return SL_ERR_INVALID_ARG;
        }
        need = (end + lim->block_size - 1) / lim->block_size;
        if (q->num_blocks < need || q->block_table == NULL) {
            sl_error("batch: sequence %d needs %lld KV blocks for %lld positions, its block "
                     "table has %d",
                     s, (long long)need, (long long)end, q->num_blocks);
            return SL_ERR_INVALID_ARG;
        }
        for (int64_t i = 0; i < need; i++) {
            if (q->block_table[i] < 0 || q->block_table[i] >= lim->num_blocks) {
                sl_error("batch: sequence %d block_table[%lld] = %d, the cache has %d blocks", s,
                         (long long)i, q->block_table[i], lim->num_blocks);
                return SL_ERR_INVALID_ARG;
            }
        }
        total += q->num_tokens;
    }
    if (total != b->num_tokens) {
        sl_error("batch: sequences hold %lld tokens, num_tokens is %d", (long long)total,
                 b->num_tokens);
        return SL_ERR_INVALID_ARG;
    }
    for (int32_t t = 0; t < b->num_tokens; t++) {
        if (b->tokens[t] < 0 || b->tokens[t] >= lim->vocab_size) {
            sl_error("batch: token %d has id %d, outside the vocabulary [0, %d)", t, b->tokens[t],
                     lim->vocab_size);
            return SL_ERR_INVALID_ARG;
        }
    }
    if (b->num_logits < 0 || (b->num_logits > 0 && b->logit_indices == NULL)) {
        sl_error("batch: %d logit rows without indices", b->num_logits);
        return SL_ERR_INVALID_ARG;
    }
    for (int32_t i = 0; i < b->num_logits; i++) {
        int32_t x = b->logit_indices[i];
        if (x < 0 || x >= b->num_tokens || (i > 0 && x <= b->logit_indices[i - 1])) {
            sl_error("batch: logit_indices[%d] = %d: must be increasing token indices < %d", i, x,
                     b->num_tokens);
            return SL_ERR_INVALID_ARG;
        }
    }
    return SL_OK;
}

void sl_batch_positions(const sl_batch_t *b, int32_t *positions, int32_t *seq_of)
{
    int32_t t = 0;

    for (int32_t s = 0; s < b->num_seqs; s++) {
        for (int32_t i = 0; i < b->seqs[s].num_tokens; i++, t++) {
            positions[t] = b->seqs[s].start_pos + i;
            if (seq_of != NULL)
                seq_of[t] = s;
        }
    }
}

void sl_batch_slots(const sl_batch_t *b, const int32_t *positions, const int32_t *seq_of,
                    int32_t block_size, int64_t *slots)
{
    for (int32_t t = 0; t < b->num_tokens; t++) {
        const sl_batch_seq_t *q = &b->seqs[seq_of[t]];
        slots[t] = (int64_t)q->block_table[positions[t] / block_size] * block_size +
                   positions[t] % block_size;
    }
}
