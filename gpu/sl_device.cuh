/*
 * sl_device.cuh - device-side helpers shared by the kernels in gpu/: bf16
 * conversion, 16-byte packets, warp reductions, launch checks.
 *
 * Only .cu files include this; the C side sees gpu/sl_kernels.h.
 */
#ifndef SL_GPU_SL_DEVICE_CUH
#define SL_GPU_SL_DEVICE_CUH

#include <stdint.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda_check.h"

namespace sl {

constexpr int kWarp = 32;

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ bf16 to_bf(float v) { return __float2bfloat16_rn(v); }

/* Eight bf16 moved with one 16-byte load or store. */
struct alignas(16) Bf16x8 {
    bf16 v[8];
};

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

inline bool aligned16(const void *p)
{
    return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16) == 0;
}

inline unsigned blocks_for(int64_t n, int per_block)
{
    return (unsigned)((n + per_block - 1) / per_block);
}

} // namespace sl

/* After a launch: log the launch error (bad configuration, no kernel image
 * for this GPU) under the launcher's name and return SL_ERR_CUDA. */
#define SL_CUDA_CHECK_LAUNCH(NAME)                                                         \
    do {                                                                                   \
        cudaError_t sl_launch_err_ = cudaGetLastError();                                   \
        if (sl_launch_err_ != cudaSuccess) {                                               \
            sl_error("%s: launch failed: %s (%s)", NAME, cudaGetErrorName(sl_launch_err_), \
                     cudaGetErrorString(sl_launch_err_));                                  \
            return SL_ERR_CUDA;                                                            \
        }                                                                                  \
    } while (0)

#endif /* SL_GPU_SL_DEVICE_CUH */
