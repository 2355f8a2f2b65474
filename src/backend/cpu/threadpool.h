/*
 * threadpool.h - a fork-join pool of pthreads for the CPU kernels.
 *
 * sl_cpu_parallel_for() splits [0, n) into one contiguous part per thread,
 * runs part 0 on the calling thread and the others on the pool's workers,
 * and returns when all are done. A kernel's result must not depend on how
 * [0, n) was split (the CPU kernels compute each output element alone), so
 * any thread count gives the same bits.
 *
 * Each TP rank thread of the CPU backend owns one pool; a pool is used by one
 * calling thread at a time.
 */
#ifndef SL_BACKEND_CPU_THREADPOOL_H
#define SL_BACKEND_CPU_THREADPOOL_H

#include <stddef.h>

#include "core/status.h"

typedef struct sl_cpu_pool sl_cpu_pool_t;

/* THREADS (1..1024) counts the caller: THREADS - 1 workers are started. */
sl_status_t sl_cpu_pool_create(int threads, sl_cpu_pool_t **pool_p);

/* Stops and joins the workers. NULL is allowed. */
void sl_cpu_pool_free(sl_cpu_pool_t *pool);

/* Threads of POOL, counting the caller; 1 for NULL. */
int sl_cpu_pool_threads(const sl_cpu_pool_t *pool);

/* Runs FN(ARG, begin, end) over parts of [0, N) of at least GRAIN items (the
 * last may be shorter). POOL may be NULL: FN(ARG, 0, N) on the caller. */
void sl_cpu_parallel_for(sl_cpu_pool_t *pool, size_t n, size_t grain,
                         void (*fn)(void *arg, size_t begin, size_t end), void *arg);

/* SLINFER_THREADS if set to a positive number, else the number of CPUs this
 * process may run on (its affinity mask: what SLURM gave the job). */
int sl_cpu_default_threads(void);

#endif /* SL_BACKEND_CPU_THREADPOOL_H */
