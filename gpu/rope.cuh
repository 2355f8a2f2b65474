/*
 * rope.cuh - RoPE's rotation of one pair and the bias rule of the KV store,
 * written once for the two kernels that apply them: rope_kv.cu (after the
 * QKV projection) and gemv.cu's QKV GEMV with the rotation and store fused
 * (decode). One definition, so both round alike: the fused kernel must give
 * the same bits.
 */
#ifndef SL_GPU_ROPE_CUH
#define SL_GPU_ROPE_CUH

#include "sl_device.cuh"

namespace sl {
namespace rope {

/* rotate_half on the pair (a, c) = elements (i, i + half) of a head, float32:
 * (a cos - c sin, c cos + a sin), each rounded once to bf16. */
__device__ __forceinline__ void rotate(float a, float c, float cs, float sn, bf16 &lo, bf16 &hi)
{
    lo = to_bf(a * cs - c * sn);
    hi = to_bf(c * cs + a * sn);
}

/* A v element as the cache stores it: the projection's bf16 value, with the
 * bias (B: nullptr for none) added and rounded again. */
__device__ __forceinline__ bf16 v_value(bf16 x, const float *b, int i)
{
    return b != nullptr ? to_bf(to_f(x) + b[i]) : x;
}

} // namespace rope
} // namespace sl

#endif /* SL_GPU_ROPE_CUH */
