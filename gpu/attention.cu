/*
 * attention.cu - causal grouped-query attention over the paged bf16 KV cache.
 *
 * Twin of sl_cpu_paged_attention (src/backend/cpu/attention.c): each new
 * token attends to positions [lo, pos] of its sequence through the
 * sequence's block table (lo = pos - window + 1 with a sliding window, else
 * 0); query head h reads KV head h / (heads / kv_heads). Two kernels share
 * the work of a step, as the host splits it (sl_cuda_attn_meta_t):
 *
 * - decode (any token, used for decode steps and short chunks; in
 *   attention_decode.cu): one block per (token, group of query heads sharing
 *   a KV head, split of the keys), keys streamed through shared memory.
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
 *   share a row). Only the tiles on the diagonal (and a window's edge) are
 *   masked; the blocks of a sequence's last tiles, which see the most keys,
 *   start first.
 *
 * Scores live in the log2 domain (each one times scale * log2(e)), so the
 * exponentials are exp2 (exp2_ftz, attention.cuh).
 */
#include "config.h"

#include <math.h>

#include "attention.cuh"

namespace {

using sl::bf16;
using namespace sl::attn;

/* ---- prefill ---------------------------------------------------------------- */

constexpr int kTileK = 64; /* keys per shared-memory tile      */
/* 3 blocks an SM (at most 168 registers, 3 x 70 KB of tiles at head_dim
 * 128): 12 warps to hide the tile loads and the softmax behind the MMAs.
 * Worth the few registers it spills at head_dim 128: 151 -> 184 TFLOP/s on
 * 8 x 4096 (docs/PERFORMANCE.md, session 5). */
constexpr int kPrefillBlocksPerSm = 3;

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
__global__ void __launch_bounds__(kThreads, kPrefillBlocksPerSm)
prefill_kernel(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache, const bf16 *v_cache,
               const int32_t *tiles, const int32_t *positions, const int32_t *block_offset,
               const int32_t *block_tables, int heads, int kv_heads, int block_size,
               float scale, int64_t window)
{
    sl::pdl_wait(); /* first: see sl::launch */
    constexpr int LD = HD + 8; /* padded row: the 8 rows of an ldmatrix hit distinct banks */
    constexpr int KC = HD / 16; /* k-chunks of Q K^T */
    constexpr int DN = HD / 8;  /* n-tiles of the output */
    constexpr int STAGE = 2 * kTileK * LD; /* K tile then V tile */
    extern __shared__ __align__(16) uint16_t kv_smem[]; /* [2][K, V][kTileK][LD] */

    const PrefillTile t = prefill_tile(tiles, positions, block_offset, block_tables, heads,
                                       kv_heads, window, kTileK);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, c = lane % 4;
    const float qscale = scale * kLog2e;

    /* Issues the copies of key tile J into stage ST. */
    auto load_tile = [&](int j, int st) {
        uint16_t *ks = kv_smem + st * STAGE;
        load_kv_tile<kTileK, HD, PaddedRows<HD, LD>>(ks, ks + kTileK * LD, k_cache, v_cache,
                                                     t.table, t.kb0 + (int64_t)j * kTileK,
                                                     t.lo_tile, t.hi_tile, block_size, kv_heads,
                                                     t.kvh);
    };
    load_tile(0, 0);

    /* Q fragments (A operand) for all k-chunks, straight from global memory. */
    uint32_t qf[KC][4];
    load_tile_q<KC, HD>(qf, q, q_ld, t, c);

    float o[DN][4];
#pragma unroll
    for (int dn = 0; dn < DN; dn++)
        o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* l: this lane's part */
    const int mi = lane / 8, mj = lane % 8; /* ldmatrix: this lane's matrix and row */

    for (int j = 0; j < t.ntiles; j++) {
        if (j + 1 < t.ntiles) {
            load_tile(j + 1, (j + 1) & 1);
            cp_async_wait<1>(); /* tile j has landed (this thread's part) */
        } else {
            cp_async_wait<0>();
        }
        __syncthreads(); /* ... and everyone's */
        const uint16_t *ks = kv_smem + (j & 1) * STAGE, *vs = ks + kTileK * LD;
        const int64_t kb = t.kb0 + (int64_t)j * kTileK;
        if (kb <= t.hi_warp && t.last_row >= warp * 16) {
            /* S = Q K^T: 8 n-tiles of 8 keys. */
            float s[kTileK / 8][4];
            qk_tiles<KC, kTileK / 8, LD>(s, qf, ks, mi, mj);

            /* Mask and scale (a row's 64 scores are spread over a quad). */
            scale_causal<kTileK / 8>(s, kb, kb + kTileK - 1 <= t.warp_first && kb >= t.warp_lo,
                                     qscale, t.qpos0, t.qpos1, t.lo0, t.lo1, c);
            online_softmax<kTileK / 8, DN, true>(s, o, m0, m1, l0, l1);
            pv_tiles<DN, kTileK / 8, LD>(o, s, vs, mi, mj);
        }
        __syncthreads(); /* stage j & 1 is refilled by the next iteration */
    }

    store_prefill_rows<DN>(out, (size_t)heads * HD, o, l0, l1, t.t0, t.r0, t.r1, t.cnt,
                           t.head * HD, c);
}

/* ---- launch ----------------------------------------------------------------- */

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
    (void)sl::launch(prefill_kernel<HD>, grid, kThreads, prefill_smem<HD>(), stream, out, q, q_ld,
                     kc, vc, m->tiles, m->positions, m->block_offset, m->block_tables,
                     sh->num_heads, sh->num_kv_heads, sh->block_size, sh->scale, sh->window);
    return SL_OK;
}

} // namespace

extern "C" int sl_cuda_attention_prefill_supported(int head_dim)
{
    return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
}

extern "C" const char *sl_cuda_attention_prefill_kernel(int head_dim)
{
    return prefill_wgmma_ok(head_dim) ? "wgmma" : "mma.sync";
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
        default:
            ps = prefill_wgmma_ok(hd) ? launch_prefill_wgmma(o, qq, q_ld, kc, vc, m, sh, stream)
                                      : launch_prefill<128>(o, qq, q_ld, kc, vc, m, sh, stream);
            break;
        }
        if (ps != SL_OK)
            return ps;
        SL_CUDA_CHECK_LAUNCH("sl_cuda_paged_attention_bf16 (prefill)");
    }
    if (m->num_decode == 0)
        return SL_OK;

    return launch_decode(o, qq, q_ld, kc, vc, m, sh, workspace, stream);
}
