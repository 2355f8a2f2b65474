/*
 * sl_kernels.h - C interface to the CUDA kernels in gpu/.
 *
 * Each launcher enqueues one kernel on a stream and returns SL_OK, or logs
 * the launch error once and returns SL_ERR_CUDA. Errors that happen while
 * the kernel runs surface at the next synchronising call, which checks them.
 * Every kernel has a plain C twin in src/backend/cpu/ with the same
 * arguments; the GPU tests compare the two.
 */
#ifndef SL_GPU_KERNELS_H
#define SL_GPU_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Twin of sl_cpu_rmsnorm (src/backend/cpu/rmsnorm.h), all float32.
 * out [rows, dim] (may alias x), x [rows, dim], residual [rows, dim] updated
 * in place or NULL, weight [dim]. */
sl_status_t sl_cuda_rmsnorm_f32(float *out, const float *x, float *residual,
                                const float *weight, int rows, int dim, float eps,
                                cudaStream_t stream);

/* The same on bfloat16 storage with float32 arithmetic, rounded where
 * HuggingFace rounds: the residual sum is stored (and normalised) as bf16,
 * the normalised value is rounded to bf16 before the weight multiply. */
sl_status_t sl_cuda_rmsnorm_bf16(uint16_t *out, const uint16_t *x, uint16_t *residual,
                                 const uint16_t *weight, int rows, int dim, float eps,
                                 cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* SL_GPU_KERNELS_H */
