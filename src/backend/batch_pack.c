/* batch_pack.c - a batch as one flat buffer; see batch.h.
 *
 * Layout (byte offsets; every part a multiple of 8 bytes long):
 *   header   num_seqs, num_tokens, num_logits, table_entries   i32 x 4
 *   seqs     [num_seqs] {num_tokens, start_pos, num_blocks}    i32 x 3
 *   tables   [table_entries] the block tables one after the other
 *   tokens   [num_tokens]
 *   logits   [num_logits] logit indices
 * each i32 array padded to 8 bytes. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/batch.h"
#include "core/log.h"

typedef struct sl_pack_header {
    int32_t num_seqs, num_tokens, num_logits, table_entries;
} sl_pack_header_t;

typedef struct sl_pack_parts {
    size_t seqs, tables, tokens, logits, total;
} sl_pack_parts_t;

static size_t sl_pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The byte sizes of each part for these counts; false when one is negative. */
static bool sl_pack_parts(const sl_pack_header_t *h, sl_pack_parts_t *p)
{
    if (h->num_seqs < 0 || h->num_tokens < 0 || h->num_logits < 0 || h->table_entries < 0)
        return false;
    /* Counts are int32: every product below fits a 64-bit size_t. */
    p->seqs = sl_pad8((size_t)h->num_seqs * 3 * sizeof(int32_t));
    p->tables = sl_pad8((size_t)h->table_entries * sizeof(int32_t));
    p->tokens = sl_pad8((size_t)h->num_tokens * sizeof(int32_t));
    p->logits = sl_pad8((size_t)h->num_logits * sizeof(int32_t));
    p->total = sizeof(sl_pack_header_t) + p->seqs + p->tables + p->tokens + p->logits;
    return true;
}

static bool sl_pack_header_of(const sl_batch_t *b, sl_pack_header_t *h)
{
    int64_t entries = 0;

    for (int32_t i = 0; i < b->num_seqs; i++) {
        if (b->seqs[i].num_blocks < 0)
            return false;
        entries += b->seqs[i].num_blocks;
    }
    if (entries > INT32_MAX)
        return false;
    *h = (sl_pack_header_t){.num_seqs = b->num_seqs, .num_tokens = b->num_tokens,
                            .num_logits = b->num_logits, .table_entries = (int32_t)entries};
    return true;
}

size_t sl_batch_packed_size(const sl_batch_t *b)
{
    sl_pack_header_t h;
    sl_pack_parts_t p;

    return sl_pack_header_of(b, &h) && sl_pack_parts(&h, &p) ? p.total : 0;
}

sl_status_t sl_batch_pack(const sl_batch_t *b, void *buf, size_t size)
{
    sl_pack_header_t h;
    sl_pack_parts_t p;
    char *out = buf;

    if (!sl_pack_header_of(b, &h) || !sl_pack_parts(&h, &p) || size < p.total) {
        sl_error("a batch of %d sequences does not pack into %zu bytes", b->num_seqs, size);
        return SL_ERR_INVALID_ARG;
    }
    memset(out, 0, p.total); /* padding too: the bytes are deterministic */
    memcpy(out, &h, sizeof(h));
    out += sizeof(h);
    int32_t *seqs = (int32_t *)out; /* [num_seqs, 3] */
    int32_t *tables = (int32_t *)(out + p.seqs);
    for (int32_t i = 0; i < h.num_seqs; i++) {
        const sl_batch_seq_t *q = &b->seqs[i];
        seqs[3 * i] = q->num_tokens;
        seqs[3 * i + 1] = q->start_pos;
        seqs[3 * i + 2] = q->num_blocks;
        memcpy(tables, q->block_table, (size_t)q->num_blocks * sizeof(int32_t));
        tables += q->num_blocks;
    }
    out += p.seqs + p.tables;
    memcpy(out, b->tokens, (size_t)h.num_tokens * sizeof(int32_t));
    out += p.tokens;
    memcpy(out, b->logit_indices, (size_t)h.num_logits * sizeof(int32_t));
    return SL_OK;
}

sl_status_t sl_batch_unpack(const void *buf, size_t size, sl_batch_t *batch_p,
                            sl_batch_seq_t **seqs_p)
{
    const char *in = buf;
    sl_pack_header_t h;
    sl_pack_parts_t p;

    if (size < sizeof(h)) {
        sl_error("packed batch: %zu bytes, shorter than its header", size);
        return SL_ERR_FORMAT;
    }
    memcpy(&h, in, sizeof(h));
    if (!sl_pack_parts(&h, &p) || p.total != size) {
        sl_error("packed batch: %zu bytes for %d sequences, %d tokens, %d logits and %d block "
                 "entries (expected %zu)",
                 size, h.num_seqs, h.num_tokens, h.num_logits, h.table_entries,
                 sl_pack_parts(&h, &p) ? p.total : 0);
        return SL_ERR_FORMAT;
    }
    sl_batch_seq_t *seqs = malloc((h.num_seqs > 0 ? (size_t)h.num_seqs : 1) * sizeof(*seqs));
    if (seqs == NULL) {
        sl_error("out of memory unpacking a batch of %d sequences", h.num_seqs);
        return SL_ERR_NO_MEMORY;
    }
    const int32_t *sq = (const int32_t *)(in + sizeof(h)); /* [num_seqs, 3] */
    const int32_t *tables = (const int32_t *)(in + sizeof(h) + p.seqs);
    int64_t entries = 0, tokens = 0;
    for (int32_t i = 0; i < h.num_seqs; i++) {
        seqs[i] = (sl_batch_seq_t){.num_tokens = sq[3 * i], .start_pos = sq[3 * i + 1],
                                   .num_blocks = sq[3 * i + 2], .block_table = tables + entries};
        if (seqs[i].num_blocks < 0 || seqs[i].num_tokens < 0 ||
            (entries += seqs[i].num_blocks) > h.table_entries ||
            (tokens += seqs[i].num_tokens) > h.num_tokens) {
            sl_error("packed batch: sequence %d: %d tokens, %d blocks overflow the batch's %d "
                     "tokens and %d block entries",
                     i, seqs[i].num_tokens, seqs[i].num_blocks, h.num_tokens, h.table_entries);
            free(seqs);
            return SL_ERR_FORMAT;
        }
    }
    if (entries != h.table_entries || tokens != h.num_tokens) {
        sl_error("packed batch: sequences hold %lld tokens and %lld block entries, the header "
                 "says %d and %d",
                 (long long)tokens, (long long)entries, h.num_tokens, h.table_entries);
        free(seqs);
        return SL_ERR_FORMAT;
    }
    const char *rest = in + sizeof(h) + p.seqs + p.tables;
    *batch_p = (sl_batch_t){
        .num_seqs = h.num_seqs, .seqs = seqs, .num_tokens = h.num_tokens,
        .tokens = (const int32_t *)rest, .num_logits = h.num_logits,
        .logit_indices = (const int32_t *)(rest + p.tokens),
    };
    *seqs_p = seqs;
    return SL_OK;
}
