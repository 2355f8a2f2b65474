/*
 * rmsnorm.cuh - the arithmetic of one RMSNorm row with the residual add,
 * shared by rmsnorm.cu and the all-reduce fused with the norm (allreduce.cu).
 *
 * The two must give the same bits: TP ranks keep identical residual streams
 * whichever kernel a step takes, and the tests compare the fused call with
 * the unfused sequence bitwise. So both build a row from these pieces, in
 * this order, with one block of threads_for(dim / N) threads per row:
 *   z = T(x + residual)                        each element, stored back
 *   sum_sq: thread t adds z^2 of its packets t, t + blockDim, ... in order,
 *           the elements of a packet in order, with fused multiply-adds
 *   inv = rsqrtf(block_sum(sum_sq) / dim + eps)
 *   y = T(T(z * inv) * w)                      rounded where HuggingFace does
 * block_sum's tree depends on the block's size, hence the one thread count
 * (the fused kernel emulates blocks of more than 512 threads with 512, each
 * thread doing the work of two, with block_sum's emulation).
 */
#ifndef SL_GPU_RMSNORM_CUH
#define SL_GPU_RMSNORM_CUH

#include "sl_device.cuh"

namespace sl {
namespace rms {

constexpr int kMaxThreads = 1024;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return to_f(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float v) { return to_bf(v); }

/* The residual sum of one element, stored in T. */
template <typename T> __device__ __forceinline__ T add(T x, T residual)
{
    return from_float<T>(to_float(x) + to_float(residual));
}

/* sum + z^2 with one rounding: an explicit fma, so that no kernel depends on
 * whether the compiler contracts a multiply and an add. */
template <typename T> __device__ __forceinline__ float add_square(float sum, T z)
{
    const float f = to_float(z);
    return __fmaf_rn(f, f, sum);
}

/* 1 / rms of a row of DIM elements whose squares sum to SUM_SQ (the block's
 * block_sum). */
__device__ __forceinline__ float inv_rms(float sum_sq, int dim, float eps)
{
    return rsqrtf(sum_sq / (float)dim + eps);
}

/* The normalised element times its weight; z * inv is rounded to T first. */
template <typename T> __device__ __forceinline__ T scale(T z, float inv, T w)
{
    return from_float<T>(to_float(from_float<T>(to_float(z) * inv)) * to_float(w));
}

/* Threads of a row's block for NPACKETS packets: whole warps, one packet per
 * thread up to kMaxThreads. */
__host__ __device__ inline int threads_for(int npackets)
{
    const int t = (npackets + kWarp - 1) / kWarp * kWarp;
    return t > kMaxThreads ? kMaxThreads : t;
}

/*
 * xn [dim] = RMSNorm(z) * weight of one row z [dim] that holds the residual
 * sum already, computed by the calling block (whole warps, threads_for(dim /
 * 8) <= V * blockDim.x <= kMaxThreads) as rmsnorm.cu's block of
 * threads_for(dim / 8) threads computes its row: thread t stands for the
 * threads u = t + i * blockDim.x (i < V), each summing the squares of
 * packets u, u + threads, ... in order; then block_sum's tree and the same
 * scaling. So a kernel can normalise its input itself, bit for bit as the
 * norm kernel it replaces. HOLD: each thread loads its first packets of z
 * and weight together and keeps them in registers (one round trip to L2
 * instead of two, 16 V registers more); else z is read again and weight
 * after the sum. xn may be shared memory; dim % 8 == 0, all 16-byte
 * aligned. A barrier: every thread calls it, and xn is complete for all of
 * them when it returns.
 */
template <int V, bool HOLD>
__device__ __forceinline__ void norm_row_into(bf16 *xn, const bf16 *z, const bf16 *weight,
                                              int dim, float eps)
{
    const int npackets = dim / 8, threads = threads_for(npackets);
    const Bf16x8 *zp = reinterpret_cast<const Bf16x8 *>(z);      /* [npackets] */
    const Bf16x8 *wp = reinterpret_cast<const Bf16x8 *>(weight); /* [npackets] */
    Bf16x8 *out = reinterpret_cast<Bf16x8 *>(xn);                /* [npackets] */
    float sum_sq[V];
    Bf16x8 z0[HOLD ? V : 1], w0[HOLD ? V : 1]; /* HOLD: [i] packet u of z, weight */

    if constexpr (HOLD) {
#pragma unroll
        for (int i = 0; i < V; i++) {
            const int u = threadIdx.x + i * blockDim.x;
            if (u < npackets) {
                z0[i] = zp[u];
                w0[i] = wp[u];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        sum_sq[i] = 0.0f;
        for (int p = u; p < npackets; p += threads) {
            const Bf16x8 v = HOLD && p == u ? z0[HOLD ? i : 0] : zp[p];
#pragma unroll
            for (int k = 0; k < 8; k++)
                sum_sq[i] = add_square(sum_sq[i], v.v[k]);
        }
    }
    const float inv = inv_rms(block_sum<V>(sum_sq, threads), dim, eps);
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        for (int p = u; p < npackets; p += threads) {
            const bool held = HOLD && p == u;
            const Bf16x8 v = held ? z0[HOLD ? i : 0] : zp[p];
            const Bf16x8 w = held ? w0[HOLD ? i : 0] : wp[p];
            Bf16x8 y;
#pragma unroll
            for (int k = 0; k < 8; k++)
                y.v[k] = scale(v.v[k], inv, w.v[k]);
            out[p] = y;
        }
    }
    __syncthreads();
}

} // namespace rms
} // namespace sl

#endif /* SL_GPU_RMSNORM_CUH */
