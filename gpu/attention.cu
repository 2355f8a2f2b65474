/*
 * attention.cu - causal grouped-query attention over the paged bf16 KV cache.
 *
 * Twin of sl_cpu_paged_attention (src/backend/cpu/attention.c): each new
 * token attends to positions [lo, pos] of its sequence through the
 * sequence's block table (lo = pos - window + 1 with a sliding window, else
 * 0); query head h reads KV head h / (heads / kv_heads). Two kernels share
 * the work of a step, as the host splits it (sl_cuda_attn_meta_t):
 *
 * - decode (any token, used for decode steps and short chunks): one block
 *   per (token, group of GC query heads of one KV head, split of the keys).
 *   Every K/V row is loaded once for the GC heads that share it (GQA). A
 *   half-warp takes one key: each of its 16 lanes holds head_dim / 16
 *   elements, so a K row is one coalesced 16-lane load and its dot product
 *   a 4-step shuffle. Half-warps keep their own online softmax (max, sum,
 *   accumulator); the block merges them, and with several splits
 *   (flash-decoding, for long contexts or few tokens) a second kernel merges
 *   the splits.
 *
 * - prefill (sequences with many new tokens): flash-attention 2 on tensor
 *   cores. A block of 4 warps takes 64 consecutive query tokens of one
 *   sequence and one head; each warp owns 16 query rows, holds its Q
 *   fragments and output accumulators in registers, and walks the keys in
 *   tiles of 64 staged in shared memory by cp.async, double-buffered (from
 *   the paged cache, so cached prefix blocks of a chunked prefill are read
 *   like the new ones); K and V fragments come out of shared memory with
 *   ldmatrix (V transposed on the way).
 *   S = Q K^T and O += P V are mma.sync m16n8k16 bf16 with float32
 *   accumulation; the softmax is online per row (the four lanes of a quad
 *   share a row).
 *
 * Scores live in the log2 domain (scale * log2(e) folded into q), so the
 * exponentials are exp2f.
 */
#include "config.h"

#include <math.h>

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

using sl::bf16;

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kThreads = 128;   /* both kernels: 4 warps  */
constexpr int kHalfWarps = kThreads / 16;
constexpr int kUnroll = 4;      /* keys per half-warp in flight */
constexpr int kMinChunk = 64;   /* fewest keys a decode split takes */

/* ---- decode ----------------------------------------------------------------- */

/* EPL bf16 (head_dim / 16 per lane) loaded with the widest aligned access. */
template <int EPL> struct Raw {
    uint16_t v[EPL];
};

template <int EPL> __device__ __forceinline__ void load_raw(Raw<EPL> &r, const bf16 *p)
{
    if constexpr (EPL == 16) {
        reinterpret_cast<uint4 *>(r.v)[0] = reinterpret_cast<const uint4 *>(p)[0];
        reinterpret_cast<uint4 *>(r.v)[1] = reinterpret_cast<const uint4 *>(p)[1];
    } else if constexpr (EPL == 8) {
        *reinterpret_cast<uint4 *>(r.v) = *reinterpret_cast<const uint4 *>(p);
    } else if constexpr (EPL == 4) {
        *reinterpret_cast<uint2 *>(r.v) = *reinterpret_cast<const uint2 *>(p);
    } else if constexpr (EPL == 2) {
        *reinterpret_cast<uint32_t *>(r.v) = *reinterpret_cast<const uint32_t *>(p);
    } else {
        r.v[0] = *reinterpret_cast<const uint16_t *>(p);
    }
}

template <int EPL> __device__ __forceinline__ float raw_f(const Raw<EPL> &r, int k)
{
    return __uint_as_float((uint32_t)r.v[k] << 16);
}

/* Where key position KP of a sequence lives: cache row of KV head KVH. */
__device__ __forceinline__ size_t kv_row(const int32_t *table, int64_t kp, int block_size,
                                         int kv_heads, int kvh, int head_dim)
{
    const int64_t slot = (int64_t)table[kp / block_size] * block_size + kp % block_size;
    return ((size_t)slot * kv_heads + kvh) * head_dim;
}

/*
 * out:       [tokens, heads * head_dim]
 * q:         [tokens, q_ld] head h at column h * head_dim (RoPE applied)
 * k_cache, v_cache: [slots, kv_heads, head_dim]
 * decode_tokens: [gridDim.x] the tokens this kernel handles
 * part_o:    [gridDim.x, heads, splits, head_dim], part_ml: [.., 2] (splits > 1)
 * grid = (decode tokens, heads / GC, splits), block = 128
 * dynamic shared memory: kHalfWarps * GC * (head_dim + 2) floats
 */
template <int EPL, int GC>
__global__ void __launch_bounds__(kThreads)
decode_kernel(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache, const bf16 *v_cache,
              const int32_t *decode_tokens, const int32_t *positions, const int32_t *seq_of,
              const int32_t *block_offset, const int32_t *block_tables, int heads,
              int kv_heads, int block_size, float scale, int64_t window, int splits,
              float *part_o, float *part_ml)
{
    constexpr int HD = 16 * EPL;
    extern __shared__ float smem[];
    float *m_s = smem;                             /* [kHalfWarps, GC] */
    float *l_s = m_s + kHalfWarps * GC;            /* [kHalfWarps, GC] */
    float *acc_s = l_s + kHalfWarps * GC;          /* [kHalfWarps, GC, HD] */

    const int ti = blockIdx.x;
    const int t = decode_tokens[ti];
    const int head0 = blockIdx.y * GC;
    const int group = heads / kv_heads;
    const int kvh = head0 / group;
    const int split = blockIdx.z;
    const int hw = threadIdx.x / 16, l16 = threadIdx.x % 16;

    const int64_t pos = positions[t];
    const int64_t lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    const int64_t n_keys = pos - lo + 1;
    int64_t chunk = (n_keys + splits - 1) / splits;
    chunk = chunk < kMinChunk ? kMinChunk : chunk;
    const int64_t k_begin = lo + split * chunk;
    const int64_t k_end = k_begin + chunk < pos + 1 ? k_begin + chunk : pos + 1;
    const int32_t *table = block_tables + block_offset[seq_of[t]];

    /* q of the GC heads, this lane's slice, pre-scaled into the log2 domain */
    float qf[GC][EPL];
#pragma unroll
    for (int g = 0; g < GC; g++) {
        Raw<EPL> r;
        load_raw<EPL>(r, q + (size_t)t * q_ld + (size_t)(head0 + g) * HD + l16 * EPL);
#pragma unroll
        for (int e = 0; e < EPL; e++)
            qf[g][e] = raw_f<EPL>(r, e) * scale * kLog2e;
    }

    float m[GC], l[GC], acc[GC][EPL];
#pragma unroll
    for (int g = 0; g < GC; g++) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
#pragma unroll
        for (int e = 0; e < EPL; e++)
            acc[g][e] = 0.0f;
    }

    /* The trip count is the same for every thread (the shuffles below need
     * whole warps); half-warp hw takes keys base + u * 8 + hw. */
    for (int64_t base = k_begin; base < k_end; base += kHalfWarps * kUnroll) {
        Raw<EPL> kr[kUnroll], vr[kUnroll];
        /* All loads first: kUnroll K and V rows in flight per lane. */
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int64_t kp = base + u * kHalfWarps + hw;
            if (kp < k_end) {
                const size_t row = kv_row(table, kp, block_size, kv_heads, kvh, HD) + l16 * EPL;
                load_raw<EPL>(kr[u], k_cache + row);
                load_raw<EPL>(vr[u], v_cache + row);
            } else {
#pragma unroll
                for (int e = 0; e < EPL; e++)
                    kr[u].v[e] = vr[u].v[e] = 0;
            }
        }
        /* Scores of the kUnroll keys, then one online-softmax update for the
         * chunk: one rescale of the accumulator instead of one per key. */
#pragma unroll
        for (int g = 0; g < GC; g++) {
            float sc[kUnroll];
            float mx = -INFINITY;
#pragma unroll
            for (int u = 0; u < kUnroll; u++) {
                float s = 0.0f;
#pragma unroll
                for (int e = 0; e < EPL; e++)
                    s += qf[g][e] * raw_f<EPL>(kr[u], e);
                /* Every lane shuffles (the other half-warp may be invalid). */
#pragma unroll
                for (int off = 8; off > 0; off /= 2)
                    s += __shfl_xor_sync(0xffffffffu, s, off);
                sc[u] = base + u * kHalfWarps + hw < k_end ? s : -INFINITY;
                mx = fmaxf(mx, sc[u]);
            }
            if (mx != -INFINITY) { /* this half-warp has a key in the chunk */
                const float m_new = fmaxf(m[g], mx);
                const float alpha = exp2f(m[g] - m_new); /* 0 on the first chunk */
                float p[kUnroll], psum = 0.0f;
#pragma unroll
                for (int u = 0; u < kUnroll; u++) {
                    p[u] = exp2f(sc[u] - m_new); /* 0 for a missing key */
                    psum += p[u];
                }
                l[g] = l[g] * alpha + psum;
#pragma unroll
                for (int e = 0; e < EPL; e++) {
                    float a = acc[g][e] * alpha;
#pragma unroll
                    for (int u = 0; u < kUnroll; u++)
                        a += p[u] * raw_f<EPL>(vr[u], e);
                    acc[g][e] = a;
                }
                m[g] = m_new;
            }
        }
    }

    /* Merge the half-warps. */
#pragma unroll
    for (int g = 0; g < GC; g++) {
        if (l16 == 0) {
            m_s[hw * GC + g] = m[g];
            l_s[hw * GC + g] = l[g];
        }
#pragma unroll
        for (int e = 0; e < EPL; e++)
            acc_s[(hw * GC + g) * HD + l16 * EPL + e] = acc[g][e];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < GC * HD; idx += blockDim.x) {
        const int g = idx / HD, d = idx % HD;
        float mx = -INFINITY;
        for (int h = 0; h < kHalfWarps; h++)
            mx = fmaxf(mx, m_s[h * GC + g]);
        float lsum = 0.0f, o = 0.0f;
        if (mx != -INFINITY) {
            for (int h = 0; h < kHalfWarps; h++) {
                const float w = exp2f(m_s[h * GC + g] - mx);
                lsum += l_s[h * GC + g] * w;
                o += acc_s[(h * GC + g) * HD + d] * w;
            }
        }
        const int head = head0 + g;
        if (splits == 1) {
            out[(size_t)t * heads * HD + (size_t)head * HD + d] = sl::to_bf(o / lsum);
        } else {
            const size_t part = ((size_t)ti * heads + head) * splits + split;
            part_o[part * HD + d] = lsum > 0.0f ? o / lsum : 0.0f;
            if (d == 0) {
                part_ml[part * 2] = mx;
                part_ml[part * 2 + 1] = lsum;
            }
        }
    }
}

/* Merges the splits: grid = (decode tokens, heads), block >= 32 threads. */
__global__ void combine_kernel(bf16 *out, const int32_t *decode_tokens, int heads, int head_dim,
                               int splits, const float *part_o, const float *part_ml)
{
    const int ti = blockIdx.x, head = blockIdx.y;
    const int t = decode_tokens[ti];
    const size_t part0 = ((size_t)ti * heads + head) * splits;

    float mx = -INFINITY;
    for (int s = 0; s < splits; s++)
        if (part_ml[(part0 + s) * 2 + 1] > 0.0f)
            mx = fmaxf(mx, part_ml[(part0 + s) * 2]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float wsum = 0.0f, o = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float l = part_ml[(part0 + s) * 2 + 1];
            if (l > 0.0f) {
                const float w = l * exp2f(part_ml[(part0 + s) * 2] - mx);
                wsum += w;
                o += w * part_o[(part0 + s) * head_dim + d];
            }
        }
        out[(size_t)t * heads * head_dim + (size_t)head * head_dim + d] = sl::to_bf(o / wsum);
    }
}

/* ---- prefill ---------------------------------------------------------------- */

constexpr int kTileK = 64; /* keys per shared-memory tile      */

/* D += A B, m16n8k16, bf16 inputs, float32 accumulators. Fragment layouts
 * (PTX ISA, "mma.m16n8k16"): with g = lane / 4 and c = lane % 4,
 *   a0 = A[g][2c..2c+1], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 = A[g+8][2c+8..]
 *   b0 = B[2c..2c+1][g], b1 = B[2c+8..2c+9][g]
 *   d0,d1 = D[g][2c..2c+1], d2,d3 = D[g+8][2c..2c+1]
 * (pairs packed low element first). */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
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

/* 16 bytes global -> shared without passing through registers; SRC_BYTES 0
 * writes zeros (rows outside the key range). */
__device__ __forceinline__ void cp_async16(uint16_t *dst, const void *src, int src_bytes)
{
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src),
                 "r"(src_bytes));
}

__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::);
}

template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* Shared memory of the prefill kernel: two stages of K and V tiles. */
template <int HD> constexpr size_t prefill_smem()
{
    return (size_t)2 * 2 * kTileK * (HD + 8) * sizeof(uint16_t);
}

/*
 * out:   [tokens, heads * HD]
 * q:     [tokens, q_ld]
 * tiles: [gridDim.x, 4] = first token, tokens (<= 64), sequence, unused;
 *        the tile's tokens are consecutive positions of one sequence
 * grid = (tiles, heads), block = 128, dynamic shared memory prefill_smem<HD>()
 *
 * Key tiles are double-buffered: cp.async fetches tile j + 1 from the paged
 * cache while the warps compute on tile j.
 */
template <int HD>
__global__ void __launch_bounds__(kThreads)
prefill_kernel(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache, const bf16 *v_cache,
               const int32_t *tiles, const int32_t *positions, const int32_t *block_offset,
               const int32_t *block_tables, int heads, int kv_heads, int block_size,
               float scale, int64_t window)
{
    constexpr int LD = HD + 8; /* padded row: the 8 rows of an ldmatrix hit distinct banks */
    constexpr int KC = HD / 16; /* k-chunks of Q K^T */
    constexpr int DN = HD / 8;  /* n-tiles of the output */
    constexpr int STAGE = 2 * kTileK * LD; /* K tile then V tile */
    extern __shared__ __align__(16) uint16_t kv_smem[]; /* [2][K, V][kTileK][LD] */

    const int t0 = tiles[blockIdx.x * 4], cnt = tiles[blockIdx.x * 4 + 1];
    const int seq = tiles[blockIdx.x * 4 + 2];
    const int head = blockIdx.y, kvh = head / (heads / kv_heads);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, c = lane % 4;
    const int32_t *table = block_tables + block_offset[seq];
    const float qscale = scale * kLog2e;

    const int64_t p0 = positions[t0];
    const int r0 = warp * 16 + g, r1 = r0 + 8; /* this lane's two rows in the tile */
    const int64_t qpos0 = r0 < cnt ? p0 + r0 : -1, qpos1 = r1 < cnt ? p0 + r1 : -1;
    const int64_t lo0 = window > 0 ? qpos0 - window + 1 : 0;
    const int64_t lo1 = window > 0 ? qpos1 - window + 1 : 0;
    const int64_t hi_tile = p0 + cnt - 1;
    const int64_t lo_tile = window > 0 && p0 - window + 1 > 0 ? p0 - window + 1 : 0;
    const int last_row = warp * 16 + 15 < cnt - 1 ? warp * 16 + 15 : cnt - 1;
    const int64_t hi_warp = p0 + last_row; /* keys past it are masked for the whole warp */
    const int64_t kb0 = (lo_tile / kTileK) * kTileK;
    const int ntiles = (int)((hi_tile - kb0) / kTileK) + 1;

    /* Issues the copies of key tile J into stage ST. */
    auto load_tile = [&](int j, int st) {
        uint16_t *ks = kv_smem + st * STAGE, *vs = ks + kTileK * LD;
        const int64_t kb = kb0 + (int64_t)j * kTileK;
        for (int i = threadIdx.x; i < kTileK * (HD / 8); i += kThreads) {
            const int row = i / (HD / 8), col = (i % (HD / 8)) * 8;
            const int64_t kp = kb + row;
            const bool in = kp >= lo_tile && kp <= hi_tile;
            const size_t r = in ? kv_row(table, kp, block_size, kv_heads, kvh, HD) + col : 0;
            cp_async16(&ks[row * LD + col], k_cache + r, in ? 16 : 0);
            cp_async16(&vs[row * LD + col], v_cache + r, in ? 16 : 0);
        }
        cp_async_commit();
    };
    load_tile(0, 0);

    /* Q fragments (A operand) for all k-chunks, straight from global memory. */
    uint32_t qf[KC][4];
    {
        const uint16_t *qb = reinterpret_cast<const uint16_t *>(q) + (size_t)head * HD;
        const uint16_t *q0 = qb + (size_t)(t0 + (r0 < cnt ? r0 : 0)) * q_ld;
        const uint16_t *q1 = qb + (size_t)(t0 + (r1 < cnt ? r1 : 0)) * q_ld;
#pragma unroll
        for (int kc = 0; kc < KC; kc++) {
            const int col = kc * 16 + 2 * c;
            qf[kc][0] = r0 < cnt ? *reinterpret_cast<const uint32_t *>(q0 + col) : 0u;
            qf[kc][1] = r1 < cnt ? *reinterpret_cast<const uint32_t *>(q1 + col) : 0u;
            qf[kc][2] = r0 < cnt ? *reinterpret_cast<const uint32_t *>(q0 + col + 8) : 0u;
            qf[kc][3] = r1 < cnt ? *reinterpret_cast<const uint32_t *>(q1 + col + 8) : 0u;
        }
    }

    float o[DN][4];
#pragma unroll
    for (int dn = 0; dn < DN; dn++)
        o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* l: this lane's part */
    const int mi = lane / 8, mj = lane % 8; /* ldmatrix: this lane's matrix and row */

    for (int j = 0; j < ntiles; j++) {
        if (j + 1 < ntiles) {
            load_tile(j + 1, (j + 1) & 1);
            cp_async_wait<1>(); /* tile j has landed (this thread's part) */
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); /* ... and everyone's */
        const uint16_t *ks = kv_smem + (j & 1) * STAGE, *vs = ks + kTileK * LD;
        const int64_t kb = kb0 + (int64_t)j * kTileK;
        if (kb <= hi_warp && last_row >= warp * 16) {
            /* S = Q K^T: 8 n-tiles of 8 keys; B fragments by ldmatrix, rows
             * = keys nt * 8 + mj, columns = head dims. */
            float s[kTileK / 8][4];
#pragma unroll
            for (int nt = 0; nt < kTileK / 8; nt++) {
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

            /* Mask, scale, row maxima (a row's 64 scores are spread over a quad). */
            float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < kTileK / 8; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int64_t kp = kb + nt * 8 + 2 * c + (i & 1);
                    const int64_t qp = i < 2 ? qpos0 : qpos1;
                    const int64_t lo = i < 2 ? lo0 : lo1;
                    const bool ok = kp <= qp && kp >= lo;
                    s[nt][i] = ok ? s[nt][i] * qscale : -INFINITY;
                }
                mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
                mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
            }
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
            const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
            /* A row with no key yet keeps m = -inf: nothing to rescale, p = 0. */
            const float a0 = mn0 == -INFINITY ? 1.0f : exp2f(m0 - mn0);
            const float a1 = mn1 == -INFINITY ? 1.0f : exp2f(m1 - mn1);
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
            for (int nt = 0; nt < kTileK / 8; nt++) {
                s[nt][0] = mn0 == -INFINITY ? 0.0f : exp2f(s[nt][0] - mn0);
                s[nt][1] = mn0 == -INFINITY ? 0.0f : exp2f(s[nt][1] - mn0);
                s[nt][2] = mn1 == -INFINITY ? 0.0f : exp2f(s[nt][2] - mn1);
                s[nt][3] = mn1 == -INFINITY ? 0.0f : exp2f(s[nt][3] - mn1);
                l0 += s[nt][0] + s[nt][1];
                l1 += s[nt][2] + s[nt][3];
            }

            /* O += P V: P's accumulator layout is the A layout of the next mma
             * (key chunk kk = n-tiles 2kk and 2kk + 1); V's B fragments by
             * ldmatrix.trans, rows = keys kk * 16 + (mi & 1) * 8 + mj. */
#pragma unroll
            for (int kk = 0; kk < kTileK / 16; kk++) {
                uint32_t a[4];
                a[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
                a[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
                a[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
                a[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
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
        __syncthreads(); /* stage j & 1 is refilled by the next iteration */
    }

    /* Row sums over the quad, normalise, store. */
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const size_t out_ld = (size_t)heads * HD;
#pragma unroll
    for (int dn = 0; dn < DN; dn++) {
        const int col = head * HD + dn * 8 + 2 * c;
        if (r0 < cnt)
            *reinterpret_cast<__nv_bfloat162 *>(out + (size_t)(t0 + r0) * out_ld + col) =
                __floats2bfloat162_rn(o[dn][0] / l0, o[dn][1] / l0);
        if (r1 < cnt)
            *reinterpret_cast<__nv_bfloat162 *>(out + (size_t)(t0 + r1) * out_ld + col) =
                __floats2bfloat162_rn(o[dn][2] / l1, o[dn][3] / l1);
    }
}

/* ---- launch ----------------------------------------------------------------- */

template <int EPL>
sl_status_t launch_decode(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc, const bf16 *vc,
                          const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh, int gc,
                          float *part_o, float *part_ml, cudaStream_t stream)
{
    dim3 grid((unsigned)m->num_decode, (unsigned)(sh->num_heads / gc), (unsigned)m->splits);
    size_t smem = (size_t)kHalfWarps * gc * (16 * EPL + 2) * sizeof(float);
#define SL_DECODE_CASE(GCV)                                                                    \
    case GCV:                                                                                  \
        if constexpr (16 * EPL * GCV <= 1024) /* decode_group() never asks for more */         \
            decode_kernel<EPL, GCV><<<grid, kThreads, smem, stream>>>(                         \
                out, q, q_ld, kc, vc, m->decode_tokens, m->positions, m->seq_of,               \
                m->block_offset, m->block_tables, sh->num_heads, sh->num_kv_heads,             \
                sh->block_size, sh->scale, sh->window, m->splits, part_o, part_ml);            \
        else                                                                                   \
            return SL_ERR_INTERNAL;                                                            \
        break;
    switch (gc) {
        SL_DECODE_CASE(1)
        SL_DECODE_CASE(2)
        SL_DECODE_CASE(4)
        SL_DECODE_CASE(8)
    default:
        return SL_ERR_INTERNAL;
    }
#undef SL_DECODE_CASE
    SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (decode)");
    return SL_OK;
}

template <int HD>
sl_status_t launch_prefill(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc, const bf16 *vc,
                           const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh,
                           cudaStream_t stream)
{
    dim3 grid((unsigned)m->num_tiles, (unsigned)sh->num_heads);
    /* 70 KB at head_dim 128: past the 48 KB default (per device, so every
     * launch sets it; it is a cheap host call) */
    SL_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        prefill_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)prefill_smem<HD>()));
    prefill_kernel<HD><<<grid, kThreads, prefill_smem<HD>(), stream>>>(
        out, q, q_ld, kc, vc, m->tiles, m->positions, m->block_offset, m->block_tables,
        sh->num_heads, sh->num_kv_heads, sh->block_size, sh->scale, sh->window);
    return SL_OK;
}

/* Query heads per decode block: the most of 8, 4, 2, 1 that divides the
 * group, with GC * head_dim <= 1024 (32 KB of merge buffer). */
int decode_group(int group, int head_dim)
{
    for (int gc = 8; gc > 1; gc /= 2)
        if (group % gc == 0 && gc * head_dim <= 1024)
            return gc;
    return 1;
}

} // namespace

extern "C" int sl_cuda_attention_prefill_supported(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

extern "C" int sl_cuda_attention_decode_supported(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 ||
           head_dim == 256;
}

extern "C" int sl_cuda_attention_splits(int decode_tokens, int num_heads, int num_kv_heads,
                                        int head_dim, int64_t max_keys, int sm_count)
{
    const int gc = decode_group(num_heads / num_kv_heads, head_dim);
    const int64_t blocks = (int64_t)decode_tokens * (num_heads / gc);
    if (blocks <= 0)
        return 1;
    const int64_t want = 2 * (int64_t)sm_count; /* two waves of blocks */
    int64_t splits = blocks >= want ? 1 : (want + blocks - 1) / blocks;
    int64_t useful = (max_keys + kMinChunk - 1) / kMinChunk;
    if (splits > useful)
        splits = useful;
    if (splits > SL_CUDA_ATTN_MAX_SPLITS)
        splits = SL_CUDA_ATTN_MAX_SPLITS;
    return splits < 1 ? 1 : (int)splits;
}

extern "C" size_t sl_cuda_attention_workspace_floats(int decode_tokens, int num_heads,
                                                     int head_dim, int splits)
{
    if (splits <= 1)
        return 0;
    return (size_t)decode_tokens * num_heads * splits * ((size_t)head_dim + 2);
}

extern "C" sl_status_t sl_cuda_paged_attention_bf16(uint16_t *out, const uint16_t *q, int q_ld,
                                                    const uint16_t *k_cache,
                                                    const uint16_t *v_cache,
                                                    const sl_cuda_attn_meta_t *m,
                                                    const sl_cuda_attn_shape_t *sh,
                                                    float *workspace, cudaStream_t stream)
{
    const int hd = sh->head_dim;

    if (out == nullptr || q == nullptr || k_cache == nullptr || v_cache == nullptr ||
        sh->num_heads <= 0 || sh->num_kv_heads <= 0 || sh->num_heads % sh->num_kv_heads != 0 ||
        !sl_cuda_attention_decode_supported(hd) || sh->block_size <= 0 || m->num_decode < 0 ||
        m->num_tiles < 0 || (m->num_tiles > 0 && !sl_cuda_attention_prefill_supported(hd)) ||
        m->splits < 1 || m->splits > SL_CUDA_ATTN_MAX_SPLITS ||
        (m->splits > 1 && m->num_decode > 0 && workspace == nullptr) || q_ld % 8 != 0) {
        sl_error("sl_cuda_paged_attention_bf16: invalid arguments (heads=%d kv_heads=%d "
                 "head_dim=%d block_size=%d decode=%d tiles=%d splits=%d q_ld=%d)",
                 sh->num_heads, sh->num_kv_heads, hd, sh->block_size, m->num_decode,
                 m->num_tiles, m->splits, q_ld);
        return SL_ERR_INVALID_ARG;
    }
    bf16 *o = reinterpret_cast<bf16 *>(out);
    const bf16 *qq = reinterpret_cast<const bf16 *>(q);
    const bf16 *kc = reinterpret_cast<const bf16 *>(k_cache);
    const bf16 *vc = reinterpret_cast<const bf16 *>(v_cache);

    if (m->num_tiles > 0) {
        sl_status_t ps;
        switch (hd) {
        case 16: ps = launch_prefill<16>(o, qq, q_ld, kc, vc, m, sh, stream); break;
        case 32: ps = launch_prefill<32>(o, qq, q_ld, kc, vc, m, sh, stream); break;
        case 64: ps = launch_prefill<64>(o, qq, q_ld, kc, vc, m, sh, stream); break;
        default: ps = launch_prefill<128>(o, qq, q_ld, kc, vc, m, sh, stream); break;
        }
        if (ps != SL_OK)
            return ps;
        SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (prefill)");
    }
    if (m->num_decode == 0)
        return SL_OK;

    const int gc = decode_group(sh->num_heads / sh->num_kv_heads, hd);
    float *part_o = m->splits > 1 ? workspace : nullptr;
    float *part_ml = m->splits > 1
                         ? workspace + (size_t)m->num_decode * sh->num_heads * m->splits * hd
                         : nullptr;
    sl_status_t s;
    switch (hd) {
    case 16: s = launch_decode<1>(o, qq, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 32: s = launch_decode<2>(o, qq, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 64: s = launch_decode<4>(o, qq, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 128: s = launch_decode<8>(o, qq, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    default: s = launch_decode<16>(o, qq, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    }
    if (s != SL_OK || m->splits == 1)
        return s;
    dim3 grid((unsigned)m->num_decode, (unsigned)sh->num_heads);
    combine_kernel<<<grid, hd < 32 ? 32 : (hd > 256 ? 256 : hd), 0, stream>>>(
        o, m->decode_tokens, sh->num_heads, hd, m->splits, part_o, part_ml);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (combine)");
    return SL_OK;
}
