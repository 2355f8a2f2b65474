/*
 * cuda_check.h - turn a failed CUDA runtime call into one log line and
 * SL_ERR_CUDA. For use inside gpu/ and src/backend/cuda/.
 */
#ifndef SL_GPU_CUDA_CHECK_H
#define SL_GPU_CUDA_CHECK_H

#include <cuda_runtime_api.h>

#include "core/log.h"
#include "core/status.h"

/* Evaluates CALL once; on failure logs the call text, CUDA's error name and
 * message, and returns SL_ERR_CUDA from the enclosing function. */
#define SL_CUDA_RETURN_IF_ERROR(CALL)                                          \
    do {                                                                       \
        cudaError_t sl_cuda_err_ = (CALL);                                     \
        if (sl_cuda_err_ != cudaSuccess) {                                     \
            sl_error("%s failed: %s (%s)", #CALL, cudaGetErrorName(sl_cuda_err_), \
                     cudaGetErrorString(sl_cuda_err_));                        \
            return SL_ERR_CUDA;                                                \
        }                                                                      \
    } while (0)

/* The same for NCCL: logs the call, NCCL's error string and its last error
 * message (which names the failing peer or transport), returns SL_ERR_NCCL.
 * Only where nccl.h was included first. */
#ifdef NCCL_H_
#define SL_NCCL_RETURN_IF_ERROR(CALL)                                          \
    do {                                                                       \
        ncclResult_t sl_nccl_err_ = (CALL);                                    \
        if (sl_nccl_err_ != ncclSuccess) {                                     \
            sl_error("%s failed: %s (%s)", #CALL, ncclGetErrorString(sl_nccl_err_), \
                     ncclGetLastError(NULL));                                  \
            return SL_ERR_NCCL;                                                \
        }                                                                      \
    } while (0)
#endif

#endif /* SL_GPU_CUDA_CHECK_H */
