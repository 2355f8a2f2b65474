/*
 * rmsnorm.cu - RMSNorm with the residual add fused, on the GPU.
 *
 * Twin of src/backend/cpu/rmsnorm.c. One thread block per row: each thread
 * walks the row in 16-byte packets (4 floats or 8 bf16), adds the residual
 * and writes it back, accumulates its sum of squares, the block reduces it,
 * and a second pass scales by 1/rms and the weight. The second pass re-reads
 * the row the same thread just wrote, so it comes from L1/L2, not HBM: the
 * kernel moves each byte of x, residual and out once (weight is L2-resident
 * across rows).
 */
#include "config.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda_check.h"
#include "sl_kernels.h"

namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* Rounds a float to T's precision and back: where HuggingFace stores an
 * intermediate in the model dtype, so do we. */
template <typename T> __device__ __forceinline__ float round_to(float v)
{
    return to_float(from_float<T>(v));
}

/* N elements of T moved with one 16-byte (or smaller) load/store. */
template <typename T, int N> struct alignas(sizeof(T) * N) Packet {
    T v[N];
};

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

/* Sum over the block, returned to every thread. */
__device__ float block_sum(float v)
{
    __shared__ float warp_sums[kMaxThreads / kWarp];
    __shared__ float total;
    const int lane = threadIdx.x % kWarp;
    const int warp = threadIdx.x / kWarp;
    const int nwarps = (blockDim.x + kWarp - 1) / kWarp;

    v = warp_sum(v);
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nwarps ? warp_sums[lane] : 0.0f;
        v = warp_sum(v);
        if (lane == 0)
            total = v;
    }
    __syncthreads();
    return total;
}

/*
 * out:      [rows, dim]   (may alias x)
 * x:        [rows, dim]
 * residual: [rows, dim]   updated in place, or nullptr
 * weight:   [dim]
 * grid = rows, block = threads; N = elements per packet, dim % N == 0.
 */
template <typename T, int N>
__global__ void rmsnorm_kernel(T *out, const T *x, T *residual, const T *weight, int dim,
                               float eps)
{
    using P = Packet<T, N>;
    const size_t row_offset = (size_t)blockIdx.x * (size_t)dim;
    const P *xr = reinterpret_cast<const P *>(x + row_offset);
    P *res = residual != nullptr ? reinterpret_cast<P *>(residual + row_offset) : nullptr;
    P *o = reinterpret_cast<P *>(out + row_offset);
    const P *w = reinterpret_cast<const P *>(weight);
    const int npackets = dim / N;

    float sum_sq = 0.0f;
    for (int p = threadIdx.x; p < npackets; p += blockDim.x) {
        P z = xr[p];
        if (res != nullptr) {
            const P r = res[p];
#pragma unroll
            for (int k = 0; k < N; k++)
                z.v[k] = from_float<T>(to_float(z.v[k]) + to_float(r.v[k]));
            res[p] = z;
        }
#pragma unroll
        for (int k = 0; k < N; k++) {
            const float f = to_float(z.v[k]);
            sum_sq += f * f;
        }
    }
    const float inv_rms = rsqrtf(block_sum(sum_sq) / (float)dim + eps);

    const P *zr = res != nullptr ? res : xr;
    for (int p = threadIdx.x; p < npackets; p += blockDim.x) {
        const P z = zr[p];
        const P wp = w[p];
        P y;
#pragma unroll
        for (int k = 0; k < N; k++)
            y.v[k] = from_float<T>(round_to<T>(to_float(z.v[k]) * inv_rms) * to_float(wp.v[k]));
        o[p] = y;
    }
}

bool aligned16(const void *p)
{
    return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16) == 0;
}

template <typename T>
sl_status_t launch_rmsnorm(const char *name, T *out, const T *x, T *residual, const T *weight,
                           int rows, int dim, float eps, cudaStream_t stream)
{
    constexpr int kVec = 16 / sizeof(T);

    if (rows < 0 || dim <= 0 || out == nullptr || x == nullptr || weight == nullptr) {
        sl_error("%s: invalid arguments (rows=%d dim=%d out=%p x=%p weight=%p)", name, rows,
                 dim, (void *)out, (const void *)x, (const void *)weight);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0)
        return SL_OK;

    const bool vector = dim % kVec == 0 && aligned16(out) && aligned16(x) &&
                        aligned16(residual) && aligned16(weight);
    const int per_packet = vector ? kVec : 1;
    const int npackets = dim / per_packet;
    int threads = ((npackets + kWarp - 1) / kWarp) * kWarp;
    threads = threads > kMaxThreads ? kMaxThreads : threads;

    if (vector)
        rmsnorm_kernel<T, kVec><<<rows, threads, 0, stream>>>(out, x, residual, weight, dim, eps);
    else
        rmsnorm_kernel<T, 1><<<rows, threads, 0, stream>>>(out, x, residual, weight, dim, eps);
    SL_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return SL_OK;
}

} // namespace

extern "C" sl_status_t sl_cuda_rmsnorm_f32(float *out, const float *x, float *residual,
                                           const float *weight, int rows, int dim, float eps,
                                           cudaStream_t stream)
{
    return launch_rmsnorm<float>("sl_cuda_rmsnorm_f32", out, x, residual, weight, rows, dim,
                                 eps, stream);
}

extern "C" sl_status_t sl_cuda_rmsnorm_bf16(uint16_t *out, const uint16_t *x, uint16_t *residual,
                                            const uint16_t *weight, int rows, int dim, float eps,
                                            cudaStream_t stream)
{
    return launch_rmsnorm<__nv_bfloat16>(
        "sl_cuda_rmsnorm_bf16", reinterpret_cast<__nv_bfloat16 *>(out),
        reinterpret_cast<const __nv_bfloat16 *>(x), reinterpret_cast<__nv_bfloat16 *>(residual),
        reinterpret_cast<const __nv_bfloat16 *>(weight), rows, dim, eps, stream);
}
