/*
 * step_plan.h - one engine step as data: the batch every TP rank runs
 * (backend/batch.h) and how each logit row is sampled (sampler.h), packed
 * into one flat buffer for broadcasting to a TP group's ranks.
 *
 * Within one process (the CPU backend's TP threads) the plan is used as is.
 * When a TP group spans processes (CUDA, later), its leader -- the DP
 * group's TP rank 0, which runs the engine -- packs each step's plan and
 * broadcasts it: first the size (a uint64_t), then the bytes, e.g. with
 * sl_comm_broadcast() or ncclBroadcast; the other ranks unpack it, run the
 * same forward and, holding the same logits after the vocabulary
 * all-gather, may sample the same tokens (the RNG is counter-based; the
 * penalties' token history is the leader's, so ranks that sample with
 * penalties need the chosen ids broadcast back instead).
 *
 * The format is the host's byte order and float layout: every rank of a job
 * runs the same binary (the preflight checks versions). It starts with a
 * magic word and a version, and unpacking checks every count and length
 * against the buffer size, so a truncated or foreign buffer is an error, not
 * a crash. Ranges (token ids, block ids) are checked by sl_batch_validate().
 */
#ifndef SL_ENGINE_STEP_PLAN_H
#define SL_ENGINE_STEP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "backend/batch.h"
#include "core/status.h"
#include "engine/sampler.h"

#define SL_STEP_PLAN_MAGIC 0x4c50534cu /* "SLPL" */
#define SL_STEP_PLAN_VERSION 2u

typedef struct sl_step_plan {
    uint64_t step;               /* the engine's step counter                 */
    sl_batch_t batch;
    const sl_sample_row_t *rows; /* [batch.num_logits]: row i samples logits i */
} sl_step_plan_t;

/* Bytes the packed PLAN takes (0 when a count is negative or it overflows). */
size_t sl_step_plan_size(const sl_step_plan_t *plan);

/* Writes PLAN into BUF ([size] bytes, at least sl_step_plan_size()). */
sl_status_t sl_step_plan_pack(const sl_step_plan_t *plan, void *buf, size_t size);

/* Reads a packed plan from BUF ([size]) into one new allocation: *plan_p and
 * the arrays it points to, freed together with sl_step_plan_free(). Logs and
 * returns SL_ERR_FORMAT for anything malformed. */
sl_status_t sl_step_plan_unpack(const void *buf, size_t size, sl_step_plan_t **plan_p);

/* Frees an unpacked plan. NULL is allowed. */
void sl_step_plan_free(sl_step_plan_t *plan);

#endif /* SL_ENGINE_STEP_PLAN_H */
