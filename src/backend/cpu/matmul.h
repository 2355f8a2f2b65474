/*
 * matmul.h - float32 x stored-dtype matrix product, the CPU twin of the GPU
 * GEMM/GEMV: out = x . W^T (+ bias), with W in HuggingFace's [out, in] layout.
 *
 * W may be BF16, F16 or F32 and strided (a row-parallel shard is a column
 * slice of the full matrix); its rows are converted to float32 in chunks and
 * every dot product accumulates in float32. Threads split the output
 * columns; each output element is computed the same way whatever the split,
 * so the result does not depend on the thread count.
 */
#ifndef SL_BACKEND_CPU_MATMUL_H
#define SL_BACKEND_CPU_MATMUL_H

#include <stddef.h>

#include "backend/cpu/threadpool.h"
#include "model/model.h"

/*
 * out:  [rows, w->rows]  written
 * x:    [rows, w->cols]
 * w:    [w->rows, w->cols] stored, row stride w->ld
 * bias: [w->rows] or NULL
 * pool: may be NULL (single thread)
 */
void sl_cpu_matmul(sl_cpu_pool_t *pool, float *out, const float *x, const sl_weight_t *w,
                   const float *bias, size_t rows);

#endif /* SL_BACKEND_CPU_MATMUL_H */
