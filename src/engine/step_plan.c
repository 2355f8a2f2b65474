/* step_plan.c - packing a step for the TP ranks; see step_plan.h.
 *
 * Layout (byte offsets; every part a multiple of 8 bytes long, so the
 * sample rows, which hold uint64_t, stay aligned):
 *   header   magic u32, version u32, step u64, num_seqs i32, num_tokens i32,
 *            num_logits i32, table_entries i32            (32 bytes)
 *   rows     [num_logits] sl_sample_row_t
 *   seqs     [num_seqs] {num_tokens, start_pos, num_blocks} i32
 *   tables   [table_entries] i32, the block tables one after the other
 *   tokens   [num_tokens] i32
 *   logits   [num_logits] i32 logit indices
 * each i32 array padded to 8 bytes. */
#include "config.h"

#include "engine/step_plan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct sl_plan_header {
    uint32_t magic, version;
    uint64_t step;
    int32_t num_seqs, num_tokens, num_logits, table_entries;
} sl_plan_header_t;

/* The byte sizes of each part for these counts; false on overflow. */
typedef struct sl_plan_parts {
    size_t rows, seqs, tables, tokens, logits, total;
} sl_plan_parts_t;

static size_t sl_pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static bool sl_plan_parts(const sl_plan_header_t *h, sl_plan_parts_t *p)
{
    if (h->num_seqs < 0 || h->num_tokens < 0 || h->num_logits < 0 || h->table_entries < 0)
        return false;
    /* Counts are int32: every product below fits a 64-bit size_t. */
    p->rows = (size_t)h->num_logits * sizeof(sl_sample_row_t);
    p->seqs = sl_pad8((size_t)h->num_seqs * 3 * sizeof(int32_t));
    p->tables = sl_pad8((size_t)h->table_entries * sizeof(int32_t));
    p->tokens = sl_pad8((size_t)h->num_tokens * sizeof(int32_t));
    p->logits = sl_pad8((size_t)h->num_logits * sizeof(int32_t));
    p->total = sizeof(sl_plan_header_t) + p->rows + p->seqs + p->tables + p->tokens + p->logits;
    return true;
}

static bool sl_plan_header_of(const sl_step_plan_t *plan, sl_plan_header_t *h)
{
    int64_t entries = 0;

    for (int32_t i = 0; i < plan->batch.num_seqs; i++) {
        if (plan->batch.seqs[i].num_blocks < 0)
            return false;
        entries += plan->batch.seqs[i].num_blocks;
    }
    if (entries > INT32_MAX)
        return false;
    *h = (sl_plan_header_t){
        .magic = SL_STEP_PLAN_MAGIC, .version = SL_STEP_PLAN_VERSION, .step = plan->step,
        .num_seqs = plan->batch.num_seqs, .num_tokens = plan->batch.num_tokens,
        .num_logits = plan->batch.num_logits, .table_entries = (int32_t)entries,
    };
    return true;
}

size_t sl_step_plan_size(const sl_step_plan_t *plan)
{
    sl_plan_header_t h;
    sl_plan_parts_t p;

    if (!sl_plan_header_of(plan, &h) || !sl_plan_parts(&h, &p))
        return 0;
    return p.total;
}

sl_status_t sl_step_plan_pack(const sl_step_plan_t *plan, void *buf, size_t size)
{
    sl_plan_header_t h;
    sl_plan_parts_t p;
    char *out = buf;

    if (!sl_plan_header_of(plan, &h) || !sl_plan_parts(&h, &p) || size < p.total) {
        sl_error("step plan of %d sequences does not pack into %zu bytes",
                 plan->batch.num_seqs, size);
        return SL_ERR_INVALID_ARG;
    }
    memset(out, 0, p.total); /* padding too: the bytes are deterministic */
    memcpy(out, &h, sizeof(h));
    out += sizeof(h);
    memcpy(out, plan->rows, p.rows);
    out += p.rows;
    int32_t *seqs = (int32_t *)out; /* [num_seqs, 3] */
    int32_t *tables = (int32_t *)(out + p.seqs);
    for (int32_t i = 0; i < h.num_seqs; i++) {
        const sl_batch_seq_t *q = &plan->batch.seqs[i];
        seqs[3 * i] = q->num_tokens;
        seqs[3 * i + 1] = q->start_pos;
        seqs[3 * i + 2] = q->num_blocks;
        memcpy(tables, q->block_table, (size_t)q->num_blocks * sizeof(int32_t));
        tables += q->num_blocks;
    }
    out += p.seqs + p.tables;
    memcpy(out, plan->batch.tokens, (size_t)h.num_tokens * sizeof(int32_t));
    out += p.tokens;
    memcpy(out, plan->batch.logit_indices, (size_t)h.num_logits * sizeof(int32_t));
    return SL_OK;
}

sl_status_t sl_step_plan_unpack(const void *buf, size_t size, sl_step_plan_t **plan_p)
{
    const char *in = buf;
    sl_plan_header_t h;
    sl_plan_parts_t p;
    sl_step_plan_t *plan;

    if (size < sizeof(h)) {
        sl_error("step plan: %zu bytes, shorter than its header", size);
        return SL_ERR_FORMAT;
    }
    memcpy(&h, in, sizeof(h));
    if (h.magic != SL_STEP_PLAN_MAGIC || h.version != SL_STEP_PLAN_VERSION) {
        sl_error("step plan: magic %#x version %u, expected %#x version %u", h.magic,
                 h.version, SL_STEP_PLAN_MAGIC, SL_STEP_PLAN_VERSION);
        return SL_ERR_FORMAT;
    }
    if (!sl_plan_parts(&h, &p) || p.total != size) {
        sl_error("step plan: %zu bytes for %d sequences, %d tokens, %d logits and %d block "
                 "entries (expected %zu)",
                 size, h.num_seqs, h.num_tokens, h.num_logits, h.table_entries,
                 sl_plan_parts(&h, &p) ? p.total : 0);
        return SL_ERR_FORMAT;
    }
    /* One allocation: the plan, its batch's sequences, then the rest as packed. */
    size_t seq_bytes = (size_t)h.num_seqs * sizeof(sl_batch_seq_t);
    size_t head = sl_pad8(sizeof(*plan)) + sl_pad8(seq_bytes);
    plan = malloc(head + (size - sizeof(h)));
    if (plan == NULL) {
        sl_error("out of memory unpacking a step plan of %zu bytes", size);
        return SL_ERR_NO_MEMORY;
    }
    char *base = (char *)plan;
    sl_batch_seq_t *seqs = (sl_batch_seq_t *)(base + sl_pad8(sizeof(*plan)));
    char *body = base + head;
    memcpy(body, in + sizeof(h), size - sizeof(h));
    const int32_t *sq = (const int32_t *)(body + p.rows); /* [num_seqs, 3] */
    const int32_t *tables = (const int32_t *)(body + p.rows + p.seqs);
    int64_t entries = 0, tokens = 0;
    for (int32_t i = 0; i < h.num_seqs; i++) {
        seqs[i] = (sl_batch_seq_t){.num_tokens = sq[3 * i], .start_pos = sq[3 * i + 1],
                                   .num_blocks = sq[3 * i + 2], .block_table = tables + entries};
        if (seqs[i].num_blocks < 0 || seqs[i].num_tokens < 0 ||
            (entries += seqs[i].num_blocks) > h.table_entries ||
            (tokens += seqs[i].num_tokens) > h.num_tokens) {
            sl_error("step plan: sequence %d: %d tokens, %d blocks overflow the plan's %d "
                     "tokens and %d block entries",
                     i, seqs[i].num_tokens, seqs[i].num_blocks, h.num_tokens, h.table_entries);
            free(plan);
            return SL_ERR_FORMAT;
        }
    }
    if (entries != h.table_entries || tokens != h.num_tokens) {
        sl_error("step plan: sequences hold %lld tokens and %lld block entries, header says "
                 "%d and %d",
                 (long long)tokens, (long long)entries, h.num_tokens, h.table_entries);
        free(plan);
        return SL_ERR_FORMAT;
    }
    *plan = (sl_step_plan_t){
        .step = h.step,
        .batch = {
            .num_seqs = h.num_seqs, .seqs = seqs, .num_tokens = h.num_tokens,
            .tokens = (const int32_t *)(body + p.rows + p.seqs + p.tables),
            .num_logits = h.num_logits,
            .logit_indices = (const int32_t *)(body + p.rows + p.seqs + p.tables + p.tokens),
        },
        .rows = (const sl_sample_row_t *)body,
    };
    *plan_p = plan;
    return SL_OK;
}

void sl_step_plan_free(sl_step_plan_t *plan)
{
    free(plan);
}
