/*
 * cpu_backend.h - the CPU reference backend: float32 compute from the stored
 * weights, tensor parallelism as rank threads inside this process.
 *
 * sl_cpu_backend_create() starts model->tp rank threads (rank 0 runs on the
 * thread that calls forward), each with its shard of the weights, its own
 * paged KV cache and a pool of options->threads / tp compute threads; the
 * ranks are joined by the collectives of comm/comm.h. Results equal those of
 * TP 1 up to float summation order (the row-parallel all-reduces).
 */
#ifndef SL_BACKEND_CPU_CPU_BACKEND_H
#define SL_BACKEND_CPU_CPU_BACKEND_H

#include "backend/backend.h"
#include "model/model.h"

/* MODEL must outlive the backend. Errors: SL_ERR_INVALID_ARG (options),
 * SL_ERR_NO_MEMORY. */
sl_status_t sl_cpu_backend_create(const sl_model_t *model, const sl_backend_options_t *options,
                                  sl_backend_t **backend_p);

#endif /* SL_BACKEND_CPU_CPU_BACKEND_H */
