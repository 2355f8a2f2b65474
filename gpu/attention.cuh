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

/* Where a tile loader's thread puts its 16-byte columns (load_kv_tile). */

/* Rows of LD elements (padded past HD so that ldmatrix's 8 rows hit distinct
 * banks): thread t copies column t % (HD / 8) of rows t / (HD / 8) + k STEP. */
template <int HD, int LD> struct PaddedRows {
    static constexpr int kCols = HD / 8;           /* 16-byte columns a row */
    static constexpr int kStep = kThreads / kCols; /* rows between one thread's copies */
    static constexpr int kStepElems = kStep * LD;  /* ... and elements */
    __device__ static int row0() { return threadIdx.x / kCols; }
    __device__ static int col() { return (threadIdx.x % kCols) * 8; }
    __device__ static int at(int r, int col) { return r * LD + col; }
};

/* wgmma's 128-byte swizzle (wgmma.cuh): the tile as HD / 64 regions of ROWS
 * rows of 128 bytes (64 head dims), the 16-byte chunk j of row r at chunk
 * j ^ (r % 8). Thread t copies column t % 16 of rows t / 16 + 8 k, as
 * PaddedRows: a warp reads two whole rows (4 cache lines), and the 8 threads
 * of a row's half write 8 distinct chunks of one 128-byte row (no bank
 * conflicts). HD = 128; the tile 1024-byte aligned. */
template <int ROWS, int HD> struct Swizzled128 {
    static_assert(HD == 128, "16 columns, 8 rows a pass");
    static constexpr int kStep = 8;
    static constexpr int kStepElems = kStep * 64; /* r + 8 keeps r % 8 */
    __device__ static int row0() { return threadIdx.x / 16; }
    __device__ static int col() { return (threadIdx.x % 16) * 8; }
    __device__ static int at(int r, int c)
    {
        return (c / 64) * (ROWS * 64) + r * 64 + ((c % 64 / 8) ^ (r % 8)) * 8;
    }
};

/*
 * Issues the cp.async copies of keys kb .. kb + NROWS - 1 of KV head KVH (K
 * and V rows, HD wide) into KS, VS [NROWS x HD] in shared memory, laid out as
 * LAYOUT says; keys outside [lo, hi] become zeros. A thread's rows are
 * LAYOUT::row0() + k STEP (row0 < STEP: NROWS / STEP of them): it walks
 * their cache slots by adding STEP to a (block, offset) pair, one division
 * a tile, and its destinations by adding STEP rows' elements. Positions and
 * slots in 32 bits (contexts and caches of fewer than 2^31 tokens), the
 * cache's elements in 64. (A 64-bit division a row, then 64-bit slot
 * arithmetic and a row loop the compiler could not count: 65 instructions a
 * row, half of the wgmma prefill kernel's: docs/PERFORMANCE.md, session 8.)
 */
template <int NROWS, int HD, class Layout>
__device__ __forceinline__ void load_kv_tile(uint16_t *ks, uint16_t *vs, const bf16 *k_cache,
                                             const bf16 *v_cache, const int32_t *table,
                                             int64_t kb, int64_t lo, int64_t hi,
                                             int block_size, int kv_heads, int kvh)
{
    constexpr int STEP = Layout::kStep;
    static_assert(kThreads * 8 == STEP * HD && NROWS % STEP == 0, "whole rows per pass");
    const int row0 = Layout::row0(), col = Layout::col();
    const int dst = Layout::at(row0, col);
    const int lo32 = (int)lo, hi32 = (int)hi;
    const size_t slot_elems = (size_t)kv_heads * HD;
    const bf16 *k_row = k_cache + (size_t)kvh * HD + col; /* + a slot's offset */
    const bf16 *v_row = v_cache + (size_t)kvh * HD + col;
    int kp = (int)kb + row0;
    int blk = kp / block_size, off = kp % block_size;
#pragma unroll
    for (int k = 0; k < NROWS / STEP; k++, kp += STEP) {
        const bool in = kp >= lo32 && kp <= hi32;
        const size_t src = in ? (size_t)(table[blk] * block_size + off) * slot_elems : 0;
        cp_async16(&ks[dst + k * Layout::kStepElems], k_row + src, in ? 16 : 0);
        cp_async16(&vs[dst + k * Layout::kStepElems], v_row + src, in ? 16 : 0);
        off += STEP;
        if (off >= block_size) { /* pages of at least STEP keys: once at most */
            off -= block_size;
            blk++;
        }
        while (off >= block_size) { /* smaller pages */
            off -= block_size;
            blk++;
        }
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

/* Whether the prefill of HEAD_DIM runs on attention_wgmma.cu's kernel here:
 * head_dim 128, a build with sm_90a code (SL_CUDA_SM90A) on a compute
 * capability 9.0 device, and SLINFER_PREFILL_WGMMA not 0. */
bool prefill_wgmma_ok(int head_dim);

/* The prefill part of sl_cuda_paged_attention_bf16 on that kernel
 * (arguments checked there). */
sl_status_t launch_prefill_wgmma(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache,
                                 const bf16 *v_cache, const sl_cuda_attn_meta_t *m,
                                 const sl_cuda_attn_shape_t *sh, cudaStream_t stream);

/* 2^x by the SFU alone: results below 2^-126 flush to 0 (exp2f adds a
 * rescale around ex2.approx for them, 3 instructions a score; a softmax
 * weight that small is nothing next to the row's maximum's 1). */
__device__ __forceinline__ float exp2_ftz(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/*
 * The scores' half of an online-softmax step of a warp's two mma rows (g,
 * g + 8) over a tile of scores S [NT n-tiles][4] masked (-inf, or
 * kMaskedFinite without EMPTY_ROWS) and in the log2 domain once times
 * QSCALE (1: scaled already; else the scaling rides in the exponent's
 * fused multiply-add): the rows' maxima over the quad, M and L rescaled to
 * them, S replaced by exp2(S QSCALE - m) and added to L (this lane's share;
 * the quad is summed at the end); A0, A1: the factors the rows' outputs take
 * (rescale_rows, once the MMA that may still be writing them is done). EMPTY_ROWS: a row may have
 * -inf for every key so far (prefill's causal and window tiles); it keeps
 * m = -inf, nothing to rescale, p = 0. Without it the guards are left out.
 */
template <int NT, bool EMPTY_ROWS>
__device__ __forceinline__ void softmax_scores(float (&s)[NT][4], float &m0, float &m1,
                                               float &l0, float &l1, float &a0, float &a1,
                                               float qscale = 1.0f)
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
    const float mn0 = fmaxf(m0, mx0 * qscale), mn1 = fmaxf(m1, mx1 * qscale);
    /* 0 on a row's first keys (m was -inf) */
    a0 = EMPTY_ROWS && mn0 == -INFINITY ? 1.0f : exp2_ftz(m0 - mn0);
    a1 = EMPTY_ROWS && mn1 == -INFINITY ? 1.0f : exp2_ftz(m1 - mn1);
    m0 = mn0;
    m1 = mn1;
    l0 *= a0;
    l1 *= a1;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        s[nt][0] = EMPTY_ROWS && mn0 == -INFINITY ? 0.0f : exp2_ftz(fmaf(s[nt][0], qscale, -mn0));
        s[nt][1] = EMPTY_ROWS && mn0 == -INFINITY ? 0.0f : exp2_ftz(fmaf(s[nt][1], qscale, -mn0));
        s[nt][2] = EMPTY_ROWS && mn1 == -INFINITY ? 0.0f : exp2_ftz(fmaf(s[nt][2], qscale, -mn1));
        s[nt][3] = EMPTY_ROWS && mn1 == -INFINITY ? 0.0f : exp2_ftz(fmaf(s[nt][3], qscale, -mn1));
        l0 += s[nt][0] + s[nt][1];
        l1 += s[nt][2] + s[nt][3];
    }
}

/* The output's half: O [DN][4] (rows g, g + 8) times A0, A1. */
template <int DN>
__device__ __forceinline__ void rescale_rows(float (&o)[DN][4], float a0, float a1)
{
#pragma unroll
    for (int dn = 0; dn < DN; dn++) {
        o[dn][0] *= a0;
        o[dn][1] *= a0;
        o[dn][2] *= a1;
        o[dn][3] *= a1;
    }
}

/* One online-softmax step (softmax_scores, then rescale_rows). */
template <int NT, int DN, bool EMPTY_ROWS>
__device__ __forceinline__ void online_softmax(float (&s)[NT][4], float (&o)[DN][4], float &m0,
                                               float &m1, float &l0, float &l1)
{
    float a0, a1;
    softmax_scores<NT, EMPTY_ROWS>(s, m0, m1, l0, l1, a0, a1);
    rescale_rows<DN>(o, a0, a1);
}

/*
 * What a prefill block (4 warps, up to 64 consecutive query tokens of one
 * sequence and one head; grid (tiles, heads)) knows of its rows and of the
 * keys they see, and what a lane knows of its two rows (g and g + 8 of its
 * warp's 16). TILES [tiles, 4]: first token, tokens, sequence, unused; the
 * blocks take them last first, as the host lists a sequence's tiles in
 * order and the later ones see more keys: the longest blocks start first.
 * Keys are walked in tiles of TILE_K from kb0.
 */
struct PrefillTile {
    int t0, cnt, head, kvh;
    int r0, r1;                 /* this lane's two rows in the tile */
    int64_t qpos0, qpos1;       /* their positions (-1: not a row of the tile) */
    int64_t lo0, lo1;           /* their windows' first keys */
    int64_t lo_tile, hi_tile;   /* the keys any row sees */
    int64_t warp_first, warp_lo; /* every row of the warp sees keys warp_lo .. warp_first */
    int64_t hi_warp;            /* keys past it are masked for the whole warp */
    int last_row;               /* the warp's last row in the tile */
    int64_t kb0;                /* the first key tile's first key */
    int ntiles;
    const int32_t *table;       /* the sequence's block table */
};

__device__ __forceinline__ PrefillTile prefill_tile(const int32_t *tiles, const int32_t *positions,
                                                    const int32_t *block_offset,
                                                    const int32_t *block_tables, int heads,
                                                    int kv_heads, int64_t window, int tile_k)
{
    PrefillTile t;
    const int tile = gridDim.x - 1 - blockIdx.x;
    const int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4;
    t.t0 = tiles[tile * 4];
    t.cnt = tiles[tile * 4 + 1];
    t.head = blockIdx.y;
    t.kvh = t.head / (heads / kv_heads);
    t.table = block_tables + block_offset[tiles[tile * 4 + 2]];
    const int64_t p0 = positions[t.t0];
    t.r0 = warp * 16 + g;
    t.r1 = t.r0 + 8;
    t.qpos0 = t.r0 < t.cnt ? p0 + t.r0 : -1;
    t.qpos1 = t.r1 < t.cnt ? p0 + t.r1 : -1;
    t.lo0 = window > 0 ? t.qpos0 - window + 1 : 0;
    t.lo1 = window > 0 ? t.qpos1 - window + 1 : 0;
    t.hi_tile = p0 + t.cnt - 1;
    t.lo_tile = window > 0 && p0 - window + 1 > 0 ? p0 - window + 1 : 0;
    t.last_row = warp * 16 + 15 < t.cnt - 1 ? warp * 16 + 15 : t.cnt - 1;
    t.hi_warp = p0 + t.last_row;
    /* up to its first row's position, from its last row's window start
     * (rows past cnt are not stored) */
    t.warp_first = p0 + warp * 16;
    t.warp_lo = window > 0 ? t.hi_warp - window + 1 : 0;
    t.kb0 = (t.lo_tile / tile_k) * tile_k;
    t.ntiles = (int)((t.hi_tile - t.kb0) / tile_k) + 1;
    return t;
}

/* The Q fragments of a lane's two rows of a prefill tile (load_q_fragments),
 * from Q [tokens, q_ld]. */
template <int KC, int HD>
__device__ __forceinline__ void load_tile_q(uint32_t (&qf)[KC][4], const bf16 *q, int q_ld,
                                            const PrefillTile &t, int c)
{
    const uint16_t *qb = reinterpret_cast<const uint16_t *>(q) + (size_t)t.head * HD;
    load_q_fragments<KC>(qf, qb + (size_t)(t.t0 + (t.r0 < t.cnt ? t.r0 : 0)) * q_ld, t.r0 < t.cnt,
                         qb + (size_t)(t.t0 + (t.r1 < t.cnt ? t.r1 : 0)) * q_ld, t.r1 < t.cnt, c);
}

/* A masked score for softmax_scores<NT, false>: finite, so that a row with
 * no key yet keeps finite maxima (exp2(0) weights that the row's first real
 * key scales to 0: exp2(kMaskedFinite - m) == 0), no -inf guards. */
constexpr float kMaskedFinite = -1e30f;

/*
 * A prefill tile's scores S [NT n-tiles][4] into the log2 domain: element i
 * of n-tile nt is key kb + 8 nt + 2 c + (i & 1) for the warp's row g (i < 2,
 * at position QPOS0, window from LO0) or g + 8 (QPOS1, LO1); times QSCALE,
 * or MASKED where the row does not see the key. FULL: every row of the warp
 * sees every key of the tile (all tiles but the diagonal's and a window's
 * edge), so only the scaling.
 */
template <int NT>
__device__ __forceinline__ void scale_causal(float (&s)[NT][4], int64_t kb, bool full,
                                             float qscale, int64_t qpos0, int64_t qpos1,
                                             int64_t lo0, int64_t lo1, int c,
                                             float masked = -INFINITY)
{
    if (full) {
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++)
                s[nt][i] *= qscale;
        return;
    }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int64_t kp = kb + nt * 8 + 2 * c + (i & 1);
            const int64_t qp = i < 2 ? qpos0 : qpos1;
            const int64_t lo = i < 2 ? lo0 : lo1;
            const bool ok = kp <= qp && kp >= lo;
            s[nt][i] = ok ? s[nt][i] * qscale : masked;
        }
    }
}

/* The prefill kernels' end: each row's sum over its quad, then O / l rounded
 * to bf16 into OUT [tokens, OUT_LD] rows T0 + R0 and T0 + R1 (those below
 * CNT), columns COL0 + 8 dn + 2 c .. + 1. */
template <int DN>
__device__ __forceinline__ void store_prefill_rows(bf16 *out, size_t out_ld,
                                                   const float (&o)[DN][4], float l0, float l1,
                                                   int t0, int r0, int r1, int cnt, int col0,
                                                   int c)
{
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
#pragma unroll
    for (int dn = 0; dn < DN; dn++) {
        const int col = col0 + dn * 8 + 2 * c;
        if (r0 < cnt)
            *reinterpret_cast<__nv_bfloat162 *>(out + (size_t)(t0 + r0) * out_ld + col) =
                __floats2bfloat162_rn(o[dn][0] / l0, o[dn][1] / l0);
        if (r1 < cnt)
            *reinterpret_cast<__nv_bfloat162 *>(out + (size_t)(t0 + r1) * out_ld + col) =
                __floats2bfloat162_rn(o[dn][2] / l1, o[dn][3] / l1);
    }
}

} // namespace attn
} // namespace sl

#endif /* SL_GPU_ATTENTION_CUH */
