/*
 * attention.cuh - what the two attention files share (attention.cu: the
 * prefill kernel and the public entry; attention_decode.cu: the decode
 * kernels): the paged-cache addressing, cp.async, the tensor-core
 * fragments (ldmatrix; mma.sync is sl::mma_bf16) and the decode launcher.
 *
 * Only gpu/attention*.cu include this.
 */
#ifndef SL_GPU_ATTENTION_CUH
#define SL_GPU_ATTENTION_CUH

#include <stddef.h>
#include <stdint.h>

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace sl {
namespace attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kThreads = 128; /* every attention kernel: 4 warps */

/* Where key position KP of a sequence lives: cache row of KV head KVH. */
__device__ __forceinline__ size_t kv_row(const int32_t *table, int64_t kp, int block_size,
                                         int kv_heads, int kvh, int head_dim)
{
    const int64_t slot = (int64_t)table[kp / block_size] * block_size + kp % block_size;
    return ((size_t)slot * kv_heads + kvh) * head_dim;
}

/* 16 bytes global -> shared without passing through registers; SRC_BYTES 0
 * writes zeros (rows outside the key range). */
__device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes)
{
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src),
                 "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::);
}

/* Waits until at most N of this thread's committed groups are in flight. */
template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/*
 * Issues the cp.async copies of keys kb .. kb + NROWS - 1 of KV head KVH (K
 * and V rows, HD wide) into KS, VS [NROWS][LD] in shared memory; keys
 * outside [lo, hi] become zeros. Thread t copies 16-byte column t % (HD / 8)
 * of rows t / (HD / 8) + k * STEP: it walks their cache slots by adding
 * STEP to a (block, offset) pair, one division a tile instead of one a row
 * (a 64-bit division per 16 bytes copied was most of a tile's
 * instructions). kb >= 0.
 */
template <int NROWS, int HD, int LD>
__device__ __forceinline__ void load_kv_tile(uint16_t *ks, uint16_t *vs, const bf16 *k_cache,
                                             const bf16 *v_cache, const int32_t *table,
                                             int64_t kb, int64_t lo, int64_t hi,
                                             int block_size, int kv_heads, int kvh)
{
    constexpr int CPR = HD / 8;          /* 16-byte columns a row */
    constexpr int STEP = kThreads / CPR; /* rows between one thread's copies */
    static_assert(kThreads % CPR == 0 && NROWS % STEP == 0, "whole rows per pass");
    const int row0 = threadIdx.x / CPR, col = (threadIdx.x % CPR) * 8;
    int64_t kp = kb + row0;
    int64_t blk = kp / block_size;
    int off = (int)(kp % block_size);
#pragma unroll
    for (int r = row0; r < NROWS; r += STEP, kp += STEP) {
        const bool in = kp >= lo && kp <= hi;
        const size_t src =
            in ? (((size_t)table[blk] * block_size + off) * kv_heads + kvh) * HD + col : 0;
        cp_async16(&ks[r * LD + col], k_cache + src, in ? 16 : 0);
        cp_async16(&vs[r * LD + col], v_cache + src, in ? 16 : 0);
        for (off += STEP; off >= block_size; off -= block_size)
            blk++;
    }
    cp_async_commit();
}

/* The A fragments (mma.m16n8k16) of two query rows, g and g + 8 of the tile,
 * over the KC chunks of 16 head dims, straight from global memory: Q0, Q1
 * point at the rows (head dims 0 ..), IN0, IN1 say whether they are rows of
 * the tile at all (zeros otherwise; Q0, Q1 must still be readable). C: lane
 * % 4. */
template <int KC>
__device__ __forceinline__ void load_q_fragments(uint32_t (&qf)[KC][4], const uint16_t *q0,
                                                 bool in0, const uint16_t *q1, bool in1, int c)
{
#pragma unroll
    for (int kc = 0; kc < KC; kc++) {
        const int col = kc * 16 + 2 * c;
        qf[kc][0] = in0 ? *reinterpret_cast<const uint32_t *>(q0 + col) : 0u;
        qf[kc][1] = in1 ? *reinterpret_cast<const uint32_t *>(q1 + col) : 0u;
        qf[kc][2] = in0 ? *reinterpret_cast<const uint32_t *>(q0 + col + 8) : 0u;
        qf[kc][3] = in1 ? *reinterpret_cast<const uint32_t *>(q1 + col + 8) : 0u;
    }
}

/* ldmatrix: lanes 8i..8i+7 give the row addresses of 8x8 matrix i; lane t
 * receives, in register i, matrix i's elements (t / 4, 2 (t % 4) .. + 1), or
 * with .trans (2 (t % 4) .. + 1, t / 4): exactly a B fragment of rows that
 * are keys (V) or of columns that are keys (K). */
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const uint16_t *row)
{
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

__device__ __forceinline__ void ldsm_x2(uint32_t (&r)[4], const uint16_t *row)
{
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
}

__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const uint16_t *row)
{
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* S = Q K^T over NT n-tiles of 8 keys: s[nt] (accumulator layout) from the
 * Q fragments QF (A operand, KC chunks of 16 head dims) and the key rows
 * KS + (nt * 8 + row) * LD in shared memory (B fragments by ldmatrix: rows
 * are keys, columns head dims). MI, MJ: this lane's ldmatrix matrix and row. */
template <int KC, int NT, int LD>
__device__ __forceinline__ void qk_tiles(float (&s)[NT][4], const uint32_t (&qf)[KC][4],
                                         const uint16_t *ks, int mi, int mj)
{
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        const uint16_t *krow = &ks[(nt * 8 + mj) * LD];
        if constexpr (KC % 2 == 0) {
#pragma unroll
            for (int kc = 0; kc < KC; kc += 2) {
                uint32_t b[4]; /* b0, b1 of chunk kc; b0, b1 of kc + 1 */
                ldsm_x4(b, krow + kc * 16 + mi * 8);
                mma_bf16(s[nt], qf[kc], b[0], b[1]);
                mma_bf16(s[nt], qf[kc + 1], b[2], b[3]);
            }
        } else {
            uint32_t b[4];
            ldsm_x2(b, krow + (mi & 1) * 8);
            mma_bf16(s[nt], qf[0], b[0], b[1]);
        }
    }
}

/* O += P V over the NT / 2 chunks of 16 keys of P: P's accumulator layout
 * (qk_tiles) is the A layout of the next mma (chunk kk = n-tiles 2kk and
 * 2kk + 1); V's B fragments by ldmatrix.trans from the value rows
 * VS + key * LD, DN n-tiles of 8 head dims. */
template <int DN, int NT, int LD>
__device__ __forceinline__ void pv_tiles(float (&o)[DN][4], const float (&p)[NT][4],
                                         const uint16_t *vs, int mi, int mj)
{
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        uint32_t a[4];
        a[0] = pack_bf16(p[2 * kk][0], p[2 * kk][1]);
        a[1] = pack_bf16(p[2 * kk][2], p[2 * kk][3]);
        a[2] = pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
        a[3] = pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
        const uint16_t *vrow = &vs[(kk * 16 + (mi & 1) * 8 + mj) * LD + (mi >> 1) * 8];
#pragma unroll
        for (int dn = 0; dn < DN; dn += 2) {
            uint32_t b[4]; /* b0, b1 of n-tile dn; b0, b1 of dn + 1 */
            ldsm_x4_trans(b, vrow + dn * 8);
            mma_bf16(o[dn], a, b[0], b[1]);
            mma_bf16(o[dn + 1], a, b[2], b[3]);
        }
    }
}

/* The decode part of sl_cuda_paged_attention_bf16 (arguments checked
 * there): the decode kernel over m->decode_tokens, then, with several
 * splits, the kernel that merges them. */
sl_status_t launch_decode(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache,
                          const bf16 *v_cache, const sl_cuda_attn_meta_t *m,
                          const sl_cuda_attn_shape_t *sh, float *workspace,
                          cudaStream_t stream);

/*
 * One online-softmax step of a warp's two mma rows (g, g + 8) over a tile of
 * scores S [NT n-tiles][4] already scaled and masked (-inf): the rows'
 * maxima over the quad, M, L and O [DN][4] rescaled to them, S replaced by
 * exp2(S - m) and added to L (this lane's share; the quad is summed at the
 * end). EMPTY_ROWS: a row may have no key yet (prefill's causal and window
 * tiles); it keeps m = -inf, nothing to rescale, p = 0. Without it (decode:
 * every row has a key in every tile) the guards are left out.
 */
template <int NT, int DN, bool EMPTY_ROWS>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[DN][4], float &m0,
                                               float &m1, float &l0, float &l1)
{
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
        mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    /* 0 on a row's first keys (m was -inf) */
    const float a0 = EMPTY_ROWS && mn0 == -INFINITY ? 1.0f : exp2f(m0 - mn0);
    const float a1 = EMPTY_ROWS && mn1 == -INFINITY ? 1.0f : exp2f(m1 - mn1);
    m0 = mn0;
    m1 = mn1;
    l0 *= a0;
    l1 *= a1;
#pragma unroll
    for (int dn = 0; dn < DN; dn++) {
        o[dn][0] *= a0;
        o[dn][1] *= a0;
        o[dn][2] *= a1;
        o[dn][3] *= a1;
    }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        s[nt][0] = EMPTY_ROWS && mn0 == -INFINITY ? 0.0f : exp2f(s[nt][0] - mn0);
        s[nt][1] = EMPTY_ROWS && mn0 == -INFINITY ? 0.0f : exp2f(s[nt][1] - mn0);
        s[nt][2] = EMPTY_ROWS && mn1 == -INFINITY ? 0.0f : exp2f(s[nt][2] - mn1);
        s[nt][3] = EMPTY_ROWS && mn1 == -INFINITY ? 0.0f : exp2f(s[nt][3] - mn1);
        l0 += s[nt][0] + s[nt][1];
        l1 += s[nt][2] + s[nt][3];
    }
}

} // namespace attn
} // namespace sl

#endif /* SL_GPU_ATTENTION_CUH */
