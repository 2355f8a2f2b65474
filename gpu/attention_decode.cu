/*
 * attention_decode.cu - the decode half of the paged attention
 * (attention.cu has the prefill half and the entry point): every token in
 * meta->decode_tokens attends to keys [lo, pos] of its sequence, with the
 * keys optionally cut into splits (flash-decoding, for long contexts or few
 * tokens) that combine_kernel merges.
 *
 * A decode step reads the whole KV of every running sequence (tens of GB at
 * large batches) and does ~1 FMA per byte: the kernels must issue few
 * instructions per byte or they, not HBM, set the pace. Hence two kernels:
 * - decode_mma_kernel (head_dim <= 128): the query heads that share a KV
 *   head are the rows of an mma.sync tile, keys stream through shared
 *   memory by cp.async; a fraction of an instruction per K/V byte.
 * - decode_kernel (head_dim 256): CUDA cores, half-warps over keys.
 *
 * Scores live in the log2 domain (scale * log2(e) folded in), so the
 * exponentials are exp2 (the tensor-core kernel's softmax: exp2_ftz).
 */
#include "config.h"

#include <math.h>

#include "attention.cuh"

namespace {

using sl::bf16;
using namespace sl::attn;

constexpr int kHalfWarps = kThreads / 16;
constexpr int kUnroll = 4;    /* keys per half-warp in flight */
constexpr int kMinChunk = SL_CUDA_ATTN_MIN_SPLIT_KEYS;

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

/* Keys [k_begin, k_end) of split SPLIT of SPLITS for a token at POS: its
 * window [lo, pos] in chunks of at least kMinChunk keys (the last splits of
 * a short context are empty: k_begin >= k_end). */
__device__ __forceinline__ void split_keys(int64_t pos, int64_t window, int split, int splits,
                                           int64_t &k_begin, int64_t &k_end)
{
    const int64_t lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    const int64_t n_keys = pos - lo + 1;
    int64_t chunk = (n_keys + splits - 1) / splits;
    chunk = chunk < kMinChunk ? kMinChunk : chunk;
    k_begin = lo + split * chunk;
    k_end = k_begin + chunk < pos + 1 ? k_begin + chunk : pos + 1;
}

/* Element D of query head HEAD of decode token TI (token T) from a block's
 * softmax maximum MX, sum LSUM and unnormalised output O: to OUT with one
 * split, else to this split's part for combine_kernel. */
template <int HD>
__device__ __forceinline__ void store_decode(bf16 *out, float *part_o, float *part_ml, int t,
                                             int ti, int heads, int head, int d, int split,
                                             int splits, float o, float lsum, float mx)
{
    if (splits == 1) {
        out[(size_t)t * heads * HD + (size_t)head * HD + d] = sl::to_bf(o / lsum);
        return;
    }
    const size_t part = ((size_t)ti * heads + head) * splits + split;
    part_o[part * HD + d] = lsum > 0.0f ? o / lsum : 0.0f;
    if (d == 0) {
        part_ml[part * 2] = mx;
        part_ml[part * 2 + 1] = lsum;
    }
}

/* Writes the block's result from every half-warp's online softmax (M, L,
 * ACC of this lane): to OUT with one split, else this split's part. */
template <int HD, int GC>
__device__ __forceinline__ void merge_half_warps(bf16 *out, const float (&m)[GC],
                                                 const float (&l)[GC],
                                                 const float (&acc)[GC][HD / 16], float *m_s,
                                                 float *l_s, float *acc_s, int t, int ti,
                                                 int heads, int head0, int split, int splits,
                                                 float *part_o, float *part_ml)
{
    constexpr int EPL = HD / 16;
    const int hw = threadIdx.x / 16, l16 = threadIdx.x % 16;
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
        store_decode<HD>(out, part_o, part_ml, t, ti, heads, head0 + g, d, split, splits, o,
                         lsum, mx);
    }
}

/*
 * The decode attention on CUDA cores, for head_dim 256 (past what the
 * tensor-core kernel holds in registers): one block per (token, GC query
 * heads of one KV head, split); a half-warp takes one key at a time, each of
 * its 16 lanes head_dim / 16 elements, so a K row is one coalesced load and
 * its dot product a 4-step shuffle. Half-warps keep their own online
 * softmax; the block merges them.
 *
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
    sl::pdl_wait(); /* first: see sl::launch */
    constexpr int HD = 16 * EPL;
    extern __shared__ float smem[];

    const int ti = blockIdx.x;
    const int t = decode_tokens[ti];
    const int head0 = blockIdx.y * GC;
    const int group = heads / kv_heads;
    const int kvh = head0 / group;
    const int split = blockIdx.z;
    const int hw = threadIdx.x / 16, l16 = threadIdx.x % 16;

    int64_t k_begin, k_end;
    split_keys(positions[t], window, split, splits, k_begin, k_end);
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

    float *m_s = smem;                             /* [kHalfWarps, GC] */
    float *l_s = m_s + kHalfWarps * GC;            /* [kHalfWarps, GC] */
    float *acc_s = l_s + kHalfWarps * GC;          /* [kHalfWarps, GC, HD] */
    merge_half_warps<HD, GC>(out, m, l, acc, m_s, l_s, acc_s, t, ti, heads, head0, split,
                             splits, part_o, part_ml);
}

/* ---- tensor-core decode (head_dim 16..128) ---------------------------------- */

constexpr int kMmaRows = 16; /* query heads per block: the M of mma.m16n8k16 */
constexpr int kMmaTile = 64; /* keys per shared-memory tile: 16 per warp     */

/* Shared memory of decode_mma_kernel: two stages of K and V tiles during the
 * key loop, the warps' partial results after it (the same bytes). */
template <int HD> constexpr size_t decode_mma_smem()
{
    constexpr size_t tiles = (size_t)2 * 2 * kMmaTile * (HD + 8) * sizeof(uint16_t);
    constexpr size_t merge = (size_t)(kThreads / 32) * kMmaRows * (HD + 2) * sizeof(float);
    return tiles > merge ? tiles : merge;
}

/*
 * The decode attention on tensor cores: one block per (token, up to 16
 * query heads of one KV head, split of the keys). The block's query heads
 * are the 16 rows of the A operand (rows past the group are zeros: GQA 4
 * uses a quarter of each mma, which costs nothing next to the K/V bytes);
 * keys stream through shared memory in tiles of 64 (cp.async, one tile
 * loading while the last is used), warp w takes keys 16w..16w+15 of each
 * tile: S = Q K^T is 2 n-tiles x head_dim / 16 k-chunks of mma, O += P V
 * one k-chunk x head_dim / 8 n-tiles. So a K/V byte costs a fraction of an
 * instruction, where the CUDA-core kernel below spends ~2 (FMA, convert,
 * shuffle) and cannot keep up with HBM. Each warp keeps its own online
 * softmax; the block merges the four at the end.
 *
 * out, q, k_cache, v_cache, decode_tokens, part_o, part_ml: as decode_kernel
 * grid = (decode tokens, kv_heads * row_groups, splits), block = 128,
 * dynamic shared memory decode_mma_smem<HD>()
 */
template <int HD>
__global__ void __launch_bounds__(kThreads)
decode_mma_kernel(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache,
                  const bf16 *v_cache, const int32_t *decode_tokens, const int32_t *positions,
                  const int32_t *seq_of, const int32_t *block_offset,
                  const int32_t *block_tables, int heads, int kv_heads, int row_groups,
                  int block_size, float scale, int64_t window, int splits, float *part_o,
                  float *part_ml)
{
    sl::pdl_wait(); /* first: see sl::launch */
    constexpr int LD = HD + 8;  /* padded row: the 8 rows of an ldmatrix hit distinct banks */
    constexpr int KC = HD / 16; /* k-chunks of Q K^T */
    constexpr int DN = HD / 8;  /* n-tiles of the output */
    constexpr int STAGE = 2 * kMmaTile * LD; /* K tile then V tile */
    extern __shared__ __align__(16) uint16_t dm_smem[]; /* [2][K, V][kMmaTile][LD] */

    const int ti = blockIdx.x;
    const int t = decode_tokens[ti];
    const int group = heads / kv_heads;
    const int kvh = blockIdx.y / row_groups;
    const int row0 = (blockIdx.y % row_groups) * kMmaRows; /* first row within the group */
    const int nrows = group - row0 < kMmaRows ? group - row0 : kMmaRows;
    const int head0 = kvh * group + row0; /* query head of row 0 */
    const int split = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, c = lane % 4;
    const int mi = lane / 8, mj = lane % 8; /* ldmatrix: this lane's matrix and row */

    int64_t k_begin, k_end;
    split_keys(positions[t], window, split, splits, k_begin, k_end);
    const int ntiles = k_end > k_begin ? (int)((k_end - k_begin + kMmaTile - 1) / kMmaTile) : 0;
    const int32_t *table = block_tables + block_offset[seq_of[t]];

    /* Issues the copies of key tile J into stage ST; keys past the split
     * become zeros. */
    auto load_tile = [&](int j, int st) {
        uint16_t *ks = dm_smem + st * STAGE;
        load_kv_tile<kMmaTile, HD, PaddedRows<HD, LD>>(ks, ks + kMmaTile * LD, k_cache, v_cache,
                                                       table, k_begin + (int64_t)j * kMmaTile,
                                                       k_begin, k_end - 1, block_size, kv_heads,
                                                       kvh);
    };
    if (ntiles > 0)
        load_tile(0, 0);

    /* Q fragments (A operand) of rows g and g + 8, straight from global memory. */
    uint32_t qf[KC][4];
    {
        const int r0 = g, r1 = g + 8;
        const uint16_t *qt = reinterpret_cast<const uint16_t *>(q) + (size_t)t * q_ld;
        load_q_fragments<KC>(qf, qt + (size_t)(head0 + (r0 < nrows ? r0 : 0)) * HD, r0 < nrows,
                             qt + (size_t)(head0 + (r1 < nrows ? r1 : 0)) * HD, r1 < nrows, c);
    }
    const float qscale = scale * kLog2e;

    float o[DN][4];
#pragma unroll
    for (int dn = 0; dn < DN; dn++)
        o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* l: this lane's part */

    for (int j = 0; j < ntiles; j++) {
        if (j + 1 < ntiles) {
            load_tile(j + 1, (j + 1) & 1);
            cp_async_wait<1>(); /* tile j has landed (this thread's part) */
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); /* ... and everyone's */
        const uint16_t *ks = dm_smem + (j & 1) * STAGE, *vs = ks + kMmaTile * LD;
        const int64_t kw = k_begin + (int64_t)j * kMmaTile + warp * 16; /* this warp's keys */
        if (kw < k_end) {
            /* S = Q K^T: 2 n-tiles of this warp's 8 keys. */
            float s[2][4];
            qk_tiles<KC, 2, LD>(s, qf, ks + warp * 16 * LD, mi, mj);
            /* Mask the keys past the split and scale (a row's 16 scores are
             * spread over a quad). */
#pragma unroll
            for (int nt = 0; nt < 2; nt++) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const bool ok = kw + nt * 8 + 2 * c + (i & 1) < k_end;
                    s[nt][i] = ok ? s[nt][i] * qscale : -INFINITY;
                }
            }
            /* kw < k_end: every row has a key here, so the maxima are finite. */
            online_softmax<2, DN, false>(s, o, m0, m1, l0, l1);
            pv_tiles<DN, 2, LD>(o, s, vs + warp * 16 * LD, mi, mj);
        }
        __syncthreads(); /* stage j & 1 is refilled by the next iteration */
    }

    /* Row sums over the quad; then the four warps' results meet in shared
     * memory (the stages are free: the loop ended on a barrier). */
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float *ml_s = reinterpret_cast<float *>(dm_smem);          /* [warps, rows, 2] */
    float *o_s = ml_s + (kThreads / 32) * kMmaRows * 2;        /* [warps, rows, HD] */
    if (c == 0) {
        ml_s[(warp * kMmaRows + g) * 2] = m0;
        ml_s[(warp * kMmaRows + g) * 2 + 1] = l0;
        ml_s[(warp * kMmaRows + g + 8) * 2] = m1;
        ml_s[(warp * kMmaRows + g + 8) * 2 + 1] = l1;
    }
#pragma unroll
    for (int dn = 0; dn < DN; dn++) {
        const int col = dn * 8 + 2 * c;
        o_s[(warp * kMmaRows + g) * HD + col] = o[dn][0];
        o_s[(warp * kMmaRows + g) * HD + col + 1] = o[dn][1];
        o_s[(warp * kMmaRows + g + 8) * HD + col] = o[dn][2];
        o_s[(warp * kMmaRows + g + 8) * HD + col + 1] = o[dn][3];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nrows * HD; idx += kThreads) {
        const int r = idx / HD, d = idx % HD;
        float mx = -INFINITY;
        for (int w = 0; w < kThreads / 32; w++)
            mx = fmaxf(mx, ml_s[(w * kMmaRows + r) * 2]);
        float lsum = 0.0f, acc = 0.0f;
        if (mx != -INFINITY) {
            for (int w = 0; w < kThreads / 32; w++) {
                const float wt = exp2f(ml_s[(w * kMmaRows + r) * 2] - mx); /* 0: no keys */
                lsum += ml_s[(w * kMmaRows + r) * 2 + 1] * wt;
                acc += o_s[(w * kMmaRows + r) * HD + d] * wt;
            }
        }
        store_decode<HD>(out, part_o, part_ml, t, ti, heads, head0 + r, d, split, splits, acc,
                         lsum, mx);
    }
}

/* Merges the splits: grid = (decode tokens, heads), block >= 32 threads.
 * Warp 0 reads the splits' (max, sum) pairs side by side and turns them into
 * weights in shared memory; then each thread's element of the head sums the
 * splits' parts with their loads in flight together (one load after another,
 * each behind a branch on the last, made the merge of 32 splits a chain of
 * 64 round trips: 20 us at 1 x 4096 keys, docs/PERFORMANCE.md, session 5).
 * The sums run in split order, as before. */
__global__ void combine_kernel(bf16 *out, const int32_t *decode_tokens, int heads, int head_dim,
                               int splits, const float *part_o, const float *part_ml)
{
    static_assert(SL_CUDA_ATTN_MAX_SPLITS % 32 == 0, "whole warps of splits");
    __shared__ float weight[SL_CUDA_ATTN_MAX_SPLITS]; /* 0: an empty split */
    __shared__ float weight_sum;
    sl::pdl_wait(); /* first: see sl::launch */
    const int ti = blockIdx.x, head = blockIdx.y;
    const int t = decode_tokens[ti];
    const size_t part0 = ((size_t)ti * heads + head) * splits;

    if (threadIdx.x < 32) {
        float m[SL_CUDA_ATTN_MAX_SPLITS / 32], l[SL_CUDA_ATTN_MAX_SPLITS / 32];
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < SL_CUDA_ATTN_MAX_SPLITS / 32; i++) {
            const int s = threadIdx.x + 32 * i;
            m[i] = s < splits ? part_ml[(part0 + s) * 2] : -INFINITY;
            l[i] = s < splits ? part_ml[(part0 + s) * 2 + 1] : 0.0f;
            if (l[i] > 0.0f)
                mx = fmaxf(mx, m[i]);
        }
        mx = sl::warp_max(mx);
#pragma unroll
        for (int i = 0; i < SL_CUDA_ATTN_MAX_SPLITS / 32; i++) {
            const int s = threadIdx.x + 32 * i;
            if (s < splits)
                weight[s] = l[i] > 0.0f ? l[i] * exp2f(m[i] - mx) : 0.0f;
        }
        __syncwarp();
        if (threadIdx.x == 0) {
            float sum = 0.0f;
            for (int s = 0; s < splits; s++)
                sum += weight[s];
            weight_sum = sum;
        }
    }
    __syncthreads();
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float o = 0.0f;
#pragma unroll 8
        for (int s = 0; s < splits; s++) {
            const float w = weight[s];
            const float v = w > 0.0f ? part_o[(part0 + s) * head_dim + d] : 0.0f;
            if (w > 0.0f)
                o += w * v;
        }
        out[(size_t)t * heads * head_dim + (size_t)head * head_dim + d] = sl::to_bf(o / weight_sum);
    }
}

/* Query heads per decode block: the most of 8, 4, 2, 1 that divides the
 * group, with GC * head_dim <= 1024 (the merge buffers). */
int decode_group(int group, int head_dim)
{
    for (int gc = 8; gc > 1; gc /= 2)
        if (group % gc == 0 && gc * head_dim <= 1024)
            return gc;
    return 1;
}

/* Blocks per token of the tensor-core kernel: per KV head, its query heads
 * in groups of kMmaRows. */
int mma_row_groups(int group)
{
    return (group + kMmaRows - 1) / kMmaRows;
}

bool use_mma(int head_dim)
{
    return head_dim <= 128;
}

template <int HD>
sl_status_t launch_decode_mma(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc, const bf16 *vc,
                              const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh,
                              float *part_o, float *part_ml, cudaStream_t stream)
{
    const int rg = mma_row_groups(sh->num_heads / sh->num_kv_heads);
    dim3 grid((unsigned)m->num_decode, (unsigned)(sh->num_kv_heads * rg), (unsigned)m->splits);
    constexpr size_t smem = decode_mma_smem<HD>();
    if constexpr (smem > 48 * 1024) /* past the default: set per device, a cheap host call */
        SL_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
            decode_mma_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    (void)sl::launch(decode_mma_kernel<HD>, grid, kThreads, smem, stream, out, q, q_ld, kc, vc,
                     m->decode_tokens, m->positions, m->seq_of, m->block_offset, m->block_tables,
                     sh->num_heads, sh->num_kv_heads, rg, sh->block_size, sh->scale, sh->window,
                     m->splits, part_o, part_ml);
    return SL_OK;
}

template <int EPL, int GC>
sl_status_t launch_decode_gc(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc, const bf16 *vc,
                             const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh,
                             float *part_o, float *part_ml, cudaStream_t stream)
{
    constexpr int HD = 16 * EPL;
    dim3 grid((unsigned)m->num_decode, (unsigned)(sh->num_heads / GC), (unsigned)m->splits);
    const size_t smem = (size_t)kHalfWarps * GC * (HD + 2) * sizeof(float);
    (void)sl::launch(decode_kernel<EPL, GC>, grid, kThreads, smem, stream, out, q, q_ld, kc, vc,
                     m->decode_tokens, m->positions, m->seq_of, m->block_offset, m->block_tables,
                     sh->num_heads, sh->num_kv_heads, sh->block_size, sh->scale, sh->window,
                     m->splits, part_o, part_ml);
    return SL_OK;
}

template <int EPL>
sl_status_t launch_decode_hd(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc, const bf16 *vc,
                             const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh,
                             int gc, float *part_o, float *part_ml, cudaStream_t stream)
{
    if constexpr (EPL <= 8)
        if (use_mma(16 * EPL))
            return launch_decode_mma<16 * EPL>(out, q, q_ld, kc, vc, m, sh, part_o, part_ml,
                                               stream);
    switch (gc) {
    case 1: return launch_decode_gc<EPL, 1>(out, q, q_ld, kc, vc, m, sh, part_o, part_ml, stream);
    case 2: return launch_decode_gc<EPL, 2>(out, q, q_ld, kc, vc, m, sh, part_o, part_ml, stream);
    case 4: return launch_decode_gc<EPL, 4>(out, q, q_ld, kc, vc, m, sh, part_o, part_ml, stream);
    case 8:
        if constexpr (16 * EPL * 8 <= 1024) /* decode_group() never asks for more */
            return launch_decode_gc<EPL, 8>(out, q, q_ld, kc, vc, m, sh, part_o, part_ml,
                                            stream);
        return SL_ERR_INTERNAL;
    default: return SL_ERR_INTERNAL;
    }
}

} // namespace

sl_status_t sl::attn::launch_decode(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc,
                                    const bf16 *vc, const sl_cuda_attn_meta_t *m,
                                    const sl_cuda_attn_shape_t *sh, float *workspace,
                                    cudaStream_t stream)
{
    const int hd = sh->head_dim;
    const int gc = decode_group(sh->num_heads / sh->num_kv_heads, hd);
    float *part_o = m->splits > 1 ? workspace : nullptr;
    float *part_ml = m->splits > 1
                         ? workspace + (size_t)m->num_decode * sh->num_heads * m->splits * hd
                         : nullptr;
    sl_status_t s;
    switch (hd) {
    case 16: s = launch_decode_hd<1>(out, q, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 32: s = launch_decode_hd<2>(out, q, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 64: s = launch_decode_hd<4>(out, q, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    case 128: s = launch_decode_hd<8>(out, q, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    default: s = launch_decode_hd<16>(out, q, q_ld, kc, vc, m, sh, gc, part_o, part_ml, stream); break;
    }
    if (s == SL_ERR_INTERNAL)
        sl_error("sl_cuda_paged_attention_bf16: no decode kernel for %d query heads per block "
                 "at head_dim %d", gc, hd);
    if (s != SL_OK)
        return s;
    SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (decode)");
    if (m->splits == 1)
        return SL_OK;
    dim3 grid((unsigned)m->num_decode, (unsigned)sh->num_heads);
    (void)sl::launch(combine_kernel, grid, hd < 32 ? 32 : (hd > 256 ? 256 : hd), 0, stream, out,
                     m->decode_tokens, sh->num_heads, hd, m->splits, part_o, part_ml);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (combine)");
    return SL_OK;
}

extern "C" int sl_cuda_attention_decode_supported(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 ||
           head_dim == 256;
}

namespace {

/* Blocks an SM holds of the decode kernel for head_dim 16 EPL and GQA GROUP. */
template <int EPL> int decode_blocks_per_sm(int group)
{
    constexpr int HD = 16 * EPL;
    if constexpr (EPL <= 8)
        if (use_mma(HD))
            return sl::blocks_per_sm(decode_mma_kernel<HD>, kThreads, decode_mma_smem<HD>());
    const int gc = decode_group(group, HD);
    const size_t smem = (size_t)kHalfWarps * gc * (HD + 2) * sizeof(float);
    switch (gc) {
    case 1: return sl::blocks_per_sm(decode_kernel<EPL, 1>, kThreads, smem);
    case 2: return sl::blocks_per_sm(decode_kernel<EPL, 2>, kThreads, smem);
    case 4: return sl::blocks_per_sm(decode_kernel<EPL, 4>, kThreads, smem);
    default:
        if constexpr (HD * 8 <= 1024)
            return sl::blocks_per_sm(decode_kernel<EPL, 8>, kThreads, smem);
        return 0;
    }
}

} // namespace

extern "C" int sl_cuda_attention_resident_blocks(int device, int num_heads, int num_kv_heads,
                                                 int head_dim)
{
    int old = -1, sms = 0, per_sm = 0;
    if (num_kv_heads <= 0 || !sl_cuda_attention_decode_supported(head_dim) ||
        cudaGetDevice(&old) != cudaSuccess || cudaSetDevice(device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
        (void)cudaGetLastError();
        if (old >= 0)
            (void)cudaSetDevice(old);
        return 0;
    }
    const int group = num_heads / num_kv_heads;
    switch (head_dim) {
    case 16: per_sm = decode_blocks_per_sm<1>(group); break;
    case 32: per_sm = decode_blocks_per_sm<2>(group); break;
    case 64: per_sm = decode_blocks_per_sm<4>(group); break;
    case 128: per_sm = decode_blocks_per_sm<8>(group); break;
    default: per_sm = decode_blocks_per_sm<16>(group); break;
    }
    (void)cudaSetDevice(old);
    return per_sm * sms;
}

/*
 * As many splits as keep the decode grid within one wave of the blocks the
 * GPU holds at once (RESIDENT): a second, partial wave costs more than the
 * longer splits save (docs/PERFORMANCE.md, 2026-11-29 session 6: 32 tokens x
 * 1000-4000 keys ran 17-24 % faster in 1 split than in the 2 the earlier rule
 * of two waves over the SMs chose, 8 and 16 tokens fastest in 4 and 2). Each
 * split takes at least kMinChunk keys. Graphs round the count up to a power
 * of two (cuda_step.c): where that would pass the wave, it is rounded down
 * to one here.
 */
extern "C" int sl_cuda_attention_splits(int decode_tokens, int num_heads, int num_kv_heads,
                                        int head_dim, int64_t max_keys, int resident)
{
    const int group = num_heads / num_kv_heads;
    const int64_t per_token = use_mma(head_dim)
                                  ? (int64_t)num_kv_heads * mma_row_groups(group)
                                  : num_heads / decode_group(group, head_dim);
    const int64_t blocks = (int64_t)decode_tokens * per_token;
    if (blocks <= 0)
        return 1;
    int64_t splits = resident / blocks;
    const int64_t useful = (max_keys + kMinChunk - 1) / kMinChunk;
    if (splits > useful)
        splits = useful;
    if (splits > SL_CUDA_ATTN_MAX_SPLITS)
        splits = SL_CUDA_ATTN_MAX_SPLITS;
    if (splits <= 1)
        return 1;
    int64_t up = 1;
    while (up < splits)
        up *= 2;
    if (blocks * up > resident)
        splits = up / 2;
    return (int)splits;
}

extern "C" size_t sl_cuda_attention_workspace_floats(int decode_tokens, int num_heads,
                                                     int head_dim, int splits)
{
    if (splits <= 1)
        return 0;
    return (size_t)decode_tokens * num_heads * splits * ((size_t)head_dim + 2);
}
