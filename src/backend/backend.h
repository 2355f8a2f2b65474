/*
 * backend.h - what the engine calls to run a model: one forward step over a
 * batch (batch.h) on one device group, each backend behind the same table of
 * operations.
 *
 * A backend owns the weights' device copies (or views), the paged KV cache of
 * every TP rank and the rank workers. The engine allocates KV blocks
 * (limits.num_blocks of limits.block_size slots; block ids index every rank's
 * cache alike), builds a batch and calls sl_backend_forward(); it gets the
 * float32 logits of the requested tokens, gathered over the vocab-parallel
 * ranks. Implementations: cpu (backend/cpu/cpu_backend.h, the oracle) and
 * cuda (backend/cuda/cuda_backend.h).
 */
#ifndef SL_BACKEND_BACKEND_H
#define SL_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/batch.h"
#include "backend/sample.h"
#include "core/status.h"

typedef struct sl_backend sl_backend_t;

typedef struct sl_backend_ops {
    /* logits: [batch->num_logits, limits.vocab_size] float32, written. */
    sl_status_t (*forward)(sl_backend_t *backend, const sl_batch_t *batch, float *logits);
    /* Optional (NULL: not offered): the same forward, then the argmax of each
     * requested row (ties: lowest id), so only [num_logits] ids leave the
     * device instead of [num_logits, vocab] floats. The engine uses it for
     * steps whose every row is plain greedy. */
    sl_status_t (*forward_greedy)(sl_backend_t *backend, const sl_batch_t *batch,
                                  int32_t *tokens);
    /* Optional (NULL: not offered): the same forward, then the whole sampler
     * of engine/sampler.h (sl_sampler_sample: penalties over HIST, min_tokens'
     * suppression, temperature, top-k/p, min-p, the seeded draw or the argmax,
     * raw logprobs) on each requested row where the logits are, so only the
     * results leave the device. rows, hist: [batch->num_logits]; results:
     * [sum of rows[i].num_samples], row by row (row i's samples after those of
     * rows 0..i-1). Tokens equal the host sampler's but for draws that land
     * within rounding of a boundary between two tokens. The engine uses it
     * for every step that is not plain greedy. */
    sl_status_t (*forward_sample)(sl_backend_t *backend, const sl_batch_t *batch,
                                  const sl_sample_row_t *rows, const sl_sample_history_t *hist,
                                  sl_sample_result_t *results);
    void (*destroy)(sl_backend_t *backend);
} sl_backend_ops_t;

struct sl_backend {
    const sl_backend_ops_t *ops;
    const char *name;           /* "cpu", "cuda" */
    sl_batch_limits_t limits;   /* KV blocks, vocabulary, positions */
};

/* Options every backend understands; zero means "the default". */
typedef struct sl_backend_options {
    int threads;        /* CPU: compute threads in all (default: SLINFER_THREADS, else
                           the CPUs this process may run on), split over the TP ranks */
    int32_t block_size; /* KV slots per block (default 16)                            */
    int32_t num_blocks; /* KV blocks per rank (required)                               */
} sl_backend_options_t;

/* Validates BATCH against the backend's limits and runs it. */
static inline sl_status_t sl_backend_forward(sl_backend_t *backend, const sl_batch_t *batch,
                                             float *logits)
{
    return backend->ops->forward(backend, batch, logits);
}

/* NULL is allowed. */
static inline void sl_backend_destroy(sl_backend_t *backend)
{
    if (backend != NULL)
        backend->ops->destroy(backend);
}

#endif /* SL_BACKEND_BACKEND_H */
