/* step_plan.c - packing a step for the TP ranks; see step_plan.h.
 *
 * Layout (byte offsets; every part a multiple of 8 bytes long, so the
 * sample rows, which hold uint64_t, stay aligned):
 *   header   magic u32, version u32, step u64, num_rows i32, 0 i32,
 *            batch_bytes u64                               (32 bytes)
 *   rows     [num_rows] sl_sample_row_t (num_rows = the batch's num_logits)
 *   batch    the batch as sl_batch_pack() writes it (backend/batch.h) */
#include "config.h"

#include "engine/step_plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct sl_plan_header {
    uint32_t magic, version;
    uint64_t step;
    int32_t num_rows, zero;
    uint64_t batch_bytes;
} sl_plan_header_t;

/* What the plan of one allocation holds besides the copy of the buffer. */
typedef struct sl_plan_alloc {
    sl_step_plan_t plan; /* first: the pointer the caller gets */
    sl_batch_seq_t *seqs;
} sl_plan_alloc_t;

size_t sl_step_plan_size(const sl_step_plan_t *plan)
{
    size_t batch = sl_batch_packed_size(&plan->batch);

    if (batch == 0 || plan->batch.num_logits < 0)
        return 0;
    return sizeof(sl_plan_header_t) + (size_t)plan->batch.num_logits * sizeof(sl_sample_row_t) +
           batch;
}

sl_status_t sl_step_plan_pack(const sl_step_plan_t *plan, void *buf, size_t size)
{
    size_t total = sl_step_plan_size(plan);
    size_t rows = (size_t)(plan->batch.num_logits > 0 ? plan->batch.num_logits : 0) *
                  sizeof(sl_sample_row_t);
    char *out = buf;

    if (total == 0 || size < total) {
        sl_error("step plan of %d sequences does not pack into %zu bytes",
                 plan->batch.num_seqs, size);
        return SL_ERR_INVALID_ARG;
    }
    sl_plan_header_t h = {.magic = SL_STEP_PLAN_MAGIC, .version = SL_STEP_PLAN_VERSION,
                          .step = plan->step, .num_rows = plan->batch.num_logits,
                          .batch_bytes = total - sizeof(h) - rows};
    memcpy(out, &h, sizeof(h));
    if (rows > 0)
        memcpy(out + sizeof(h), plan->rows, rows);
    return sl_batch_pack(&plan->batch, out + sizeof(h) + rows, (size_t)h.batch_bytes);
}

sl_status_t sl_step_plan_unpack(const void *buf, size_t size, sl_step_plan_t **plan_p)
{
    sl_plan_header_t h;
    sl_plan_alloc_t *a;
    sl_status_t s;

    if (size < sizeof(h)) {
        sl_error("step plan: %zu bytes, shorter than its header", size);
        return SL_ERR_FORMAT;
    }
    memcpy(&h, buf, sizeof(h));
    if (h.magic != SL_STEP_PLAN_MAGIC || h.version != SL_STEP_PLAN_VERSION) {
        sl_error("step plan: magic %#x version %u, expected %#x version %u", h.magic,
                 h.version, SL_STEP_PLAN_MAGIC, SL_STEP_PLAN_VERSION);
        return SL_ERR_FORMAT;
    }
    /* num_rows is int32: the product fits; the sum is checked against size. */
    size_t rows = h.num_rows >= 0 ? (size_t)h.num_rows * sizeof(sl_sample_row_t) : SIZE_MAX;
    if (rows > size - sizeof(h) || h.batch_bytes != size - sizeof(h) - rows) {
        sl_error("step plan: %zu bytes do not hold %d sample rows and a batch of %llu bytes",
                 size, h.num_rows, (unsigned long long)h.batch_bytes);
        return SL_ERR_FORMAT;
    }
    /* One allocation: the plan, then a copy of the buffer its arrays point into. */
    size_t head = (sizeof(*a) + 7) & ~(size_t)7;
    if ((a = malloc(head + size)) == NULL) {
        sl_error("out of memory unpacking a step plan of %zu bytes", size);
        return SL_ERR_NO_MEMORY;
    }
    char *body = (char *)a + head;
    memcpy(body, buf, size);
    s = sl_batch_unpack(body + sizeof(h) + rows, (size_t)h.batch_bytes, &a->plan.batch,
                        &a->seqs);
    if (s == SL_OK && a->plan.batch.num_logits != h.num_rows) {
        sl_error("step plan: %d sample rows for %d logit rows", h.num_rows,
                 a->plan.batch.num_logits);
        free(a->seqs);
        s = SL_ERR_FORMAT;
    }
    if (s != SL_OK) {
        free(a);
        return s;
    }
    a->plan.step = h.step;
    a->plan.rows = (const sl_sample_row_t *)(body + sizeof(h));
    *plan_p = &a->plan;
    return SL_OK;
}

void sl_step_plan_free(sl_step_plan_t *plan)
{
    if (plan == NULL)
        return;
    free(((sl_plan_alloc_t *)plan)->seqs);
    free(plan);
}
