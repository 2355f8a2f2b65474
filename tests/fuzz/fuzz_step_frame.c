/*
 * fuzz_step_frame.c - libFuzzer target for what a TP group's follower reads
 * from its leader (comm/tp_link.h): packed batches (sl_batch_unpack, the CUDA
 * backend's step frames) and packed step plans (sl_step_plan_unpack).
 *
 * The input is one frame. Unpacking must accept it with every array inside
 * the buffer or refuse it, never crash or read out of bounds; an accepted
 * batch or plan must survive packing and unpacking again unchanged (padding
 * aside), and a batch is checked against small cache limits
 * (sl_batch_validate) and, when valid, walked (sl_batch_positions,
 * sl_batch_slots) with every slot inside the cache.
 *
 * Build and run: tests/fuzz/run_frame.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/batch.h"
#include "core/log.h"
#include "engine/step_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether two batches hold the same sequences, tables, tokens and logit rows. */
static int same_batch(const sl_batch_t *a, const sl_batch_t *b)
{
    if (a->num_seqs != b->num_seqs || a->num_tokens != b->num_tokens ||
        a->num_logits != b->num_logits ||
        memcmp(a->tokens, b->tokens, (size_t)a->num_tokens * sizeof(int32_t)) != 0 ||
        memcmp(a->logit_indices, b->logit_indices, (size_t)a->num_logits * sizeof(int32_t)) != 0)
        return 0;
    for (int32_t i = 0; i < a->num_seqs; i++) {
        const sl_batch_seq_t *p = &a->seqs[i], *q = &b->seqs[i];
        if (p->num_tokens != q->num_tokens || p->start_pos != q->start_pos ||
            p->num_blocks != q->num_blocks ||
            memcmp(p->block_table, q->block_table, (size_t)p->num_blocks * sizeof(int32_t)))
            return 0;
    }
    return 1;
}

/* Packs BATCH again (padding then zero, so the bytes may differ from the
 * frame's), unpacks that and compares; walks the batch when it is valid. */
static void check_batch(const sl_batch_t *b)
{
    static const sl_batch_limits_t limits = {
        .block_size = 16, .num_blocks = 64, .vocab_size = 1000, .max_position = 1024};
    size_t again = sl_batch_packed_size(b);
    void *buf = malloc(again ? again : 1);
    sl_batch_t b2;
    sl_batch_seq_t *seqs2 = NULL;

    if (buf == NULL)
        return;
    if (again == 0 || sl_batch_pack(b, buf, again) != SL_OK ||
        sl_batch_unpack(buf, again, &b2, &seqs2) != SL_OK || !same_batch(b, &b2))
        __builtin_trap(); /* an accepted batch survives packing again */
    free(seqs2);
    free(buf);
    if (sl_batch_validate(b, &limits) != SL_OK || b->num_tokens > 4096)
        return;
    int32_t *pos = malloc((size_t)b->num_tokens * sizeof(*pos) + 1);
    int32_t *seq = malloc((size_t)b->num_tokens * sizeof(*seq) + 1);
    int64_t *slots = malloc((size_t)b->num_tokens * sizeof(*slots) + 1);
    if (pos != NULL && seq != NULL && slots != NULL) {
        sl_batch_positions(b, pos, seq);
        sl_batch_slots(b, pos, seq, limits.block_size, slots);
        for (int32_t i = 0; i < b->num_tokens; i++)
            if (slots[i] < 0 || slots[i] >= (int64_t)limits.num_blocks * limits.block_size)
                __builtin_trap(); /* validated batches stay inside the cache */
    }
    free(pos), free(seq), free(slots);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    sl_batch_t batch;
    sl_batch_seq_t *seqs = NULL;
    sl_step_plan_t *plan = NULL;
    /* Frames arrive in malloc'ed buffers: the same alignment here. */
    void *frame = malloc(size ? size : 1);

    if (quiet < 0) {
        quiet = open("/dev/null", O_WRONLY);
        sl_log_set_fd(quiet); /* every input is an error message otherwise */
    }
    if (frame == NULL)
        return 0;
    memcpy(frame, data, size);
    if (sl_batch_unpack(frame, size, &batch, &seqs) == SL_OK) {
        check_batch(&batch);
        free(seqs);
    }
    if (sl_step_plan_unpack(frame, size, &plan) == SL_OK) {
        size_t again = sl_step_plan_size(plan);
        void *buf = malloc(again ? again : 1);
        sl_step_plan_t *plan2 = NULL;
        if (buf != NULL &&
            (again != size || sl_step_plan_pack(plan, buf, again) != SL_OK ||
             sl_step_plan_unpack(buf, again, &plan2) != SL_OK || plan2->step != plan->step ||
             !same_batch(&plan->batch, &plan2->batch) ||
             memcmp(plan->rows, plan2->rows,
                    (size_t)plan->batch.num_logits * sizeof(sl_sample_row_t)) != 0))
            __builtin_trap(); /* an accepted plan survives packing again */
        sl_step_plan_free(plan2);
        free(buf);
        check_batch(&plan->batch);
        sl_step_plan_free(plan);
    }
    free(frame);
    return 0;
}
