/*
 * attention_wgmma.cu - the prefill attention kernel on Hopper's warpgroup
 * MMA (sm_90a), for head_dim 128: attention.cu's prefill kernel with its
 * tensor-core work done by wgmma instead of mma.sync.
 *
 * The same tiles, walk and arithmetic (a block: 64 query tokens of one
 * sequence and one head, 4 warps of 16 rows; keys in double-buffered tiles
 * of 64 from the paged cache; online softmax in the log2 domain, masks only
 * on the diagonal and a window's edge), but the four warps are one
 * warpgroup, and each tile is two asynchronous MMAs of the whole group:
 *
 *   S [64 x 64]   = Q [64 x 128] K^T    8 x m64n64k16, Q from registers
 *   O [64 x 128] += P [64 x 64] V       4 x m64n128k16, P from registers
 *
 * with K and V read by the tensor cores straight from shared memory (no
 * ldmatrix, no register file for B), staged there in the 128-byte swizzle
 * (wgmma.cuh, Swizzled128). S and O come back in mma.sync's accumulator
 * layout, so the masks, softmax and store are attention.cuh's. The softmax
 * scale rides in the exponent's multiply-add and masked scores are finite
 * (kMaskedFinite), and O is rescaled only where a row's maximum moved:
 * fewer instructions a tile, which is what bounds this kernel (ncu: the
 * integer and FMA pipes busier than the tensor cores).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.cuh"
#include "wgmma.cuh"

namespace {

using sl::bf16;
using namespace sl::attn;
namespace wg = sl::wgmma;

constexpr int kHd = 128;
constexpr int kTileK = 64;               /* keys per shared-memory tile */
constexpr int kTileElems = kTileK * kHd; /* one K or V tile */
using Layout = Swizzled128<kTileK, kHd>;

/* Two stages of a K and a V tile: 64 KB. */
constexpr size_t kSmem = (size_t)2 * 2 * kTileElems * sizeof(uint16_t);
/* Blocks an SM (at most 168 registers: 156 used, no spills, no wgmma
 * serialised; 192 KB of tiles): 2 blocks ran at 166-182 TFLOP/s, 3 at
 * 258-288 on 8 x 4096 (docs/PERFORMANCE.md, session 8). */
constexpr int kBlocksPerSm = 3;

#ifdef SL_WGMMA
/* S [64 x 64] = Q K^T, issued (async): K-major K tile KS, k-step kc at byte
 * 32 (kc % 4) of its rows in region kc / 4. */
__device__ __forceinline__ void issue_qk(float (&s)[kTileK / 8][4],
                                         const uint32_t (&qf)[kHd / 16][4], const uint16_t *ks)
{
    float(&acc)[kTileK / 2] = reinterpret_cast<float(&)[kTileK / 2]>(s);
    const uint64_t d0 = wg::desc(ks, 16, 1024);
#pragma unroll
    for (int kc = 0; kc < kHd / 16; kc++)
        wg::mma_m64n64k16<0>(
            acc, qf[kc], d0 + wg::desc_offset((kc / 4) * kTileK * 128 + (kc % 4) * 32), kc > 0);
    wg::commit();
}

/* O [64 x 128] += P V, issued (async): P's A fragments PF (chunk kk = keys
 * 16 kk ..), the MN-major V tile VS, k-step kk at its rows 16 kk. */
__device__ __forceinline__ void issue_pv(float (&o)[kHd / 8][4],
                                         const uint32_t (&pf)[kTileK / 16][4], const uint16_t *vs)
{
    float(&acc)[kHd / 2] = reinterpret_cast<float(&)[kHd / 2]>(o);
    const uint64_t d0 = wg::desc(vs, kTileK * 128, 1024);
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; kk++)
        wg::mma_m64n128k16<1>(acc, pf[kk], d0 + wg::desc_offset(kk * 16 * 128), 1);
    wg::commit();
}

/* P's accumulator layout (n-tiles 2 kk, 2 kk + 1) is the A layout of chunk kk. */
__device__ __forceinline__ void pack_p(uint32_t (&pf)[kTileK / 16][4],
                                       const float (&p)[kTileK / 8][4])
{
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; kk++) {
        pf[kk][0] = pack_bf16(p[2 * kk][0], p[2 * kk][1]);
        pf[kk][1] = pack_bf16(p[2 * kk][2], p[2 * kk][3]);
        pf[kk][2] = pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
        pf[kk][3] = pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
    }
}

/* O's rows times A0, A1 (rescale_rows), unless every row of the warp keeps
 * its maximum (all factors 1: most tiles past the first few). */
__device__ __forceinline__ void rescale_if_needed(float (&o)[kHd / 8][4], float a0, float a1)
{
    if (__any_sync(0xffffffffu, a0 != 1.0f || a1 != 1.0f))
        rescale_rows<kHd / 8>(o, a0, a1);
}
#endif /* SL_WGMMA */

/*
 * out:   [tokens, heads * 128]
 * q:     [tokens, q_ld]
 * tiles: [gridDim.x, 4], as attention.cu's prefill kernel (PrefillTile)
 * grid = (tiles, heads), block = 128 (one warpgroup), dynamic shared memory
 * kSmem: [2 stages][K, V][Swizzled128 tile of 64 keys x 128]
 *
 * Each tile's two MMAs are waited for in turn; the three blocks an SM keep
 * the tensor cores busy with one block's MMAs while the others run their
 * softmax or wait for their tiles. (A build with two blocks an SM that
 * issued tile j + 1's S = Q K^T and ran its softmax under tile j's
 * O += P V ran slower: docs/PERFORMANCE.md, session 8.)
 */
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
prefill_wgmma_kernel(bf16 *out, const bf16 *q, int q_ld, const bf16 *k_cache,
                     const bf16 *v_cache, const int32_t *tiles, const int32_t *positions,
                     const int32_t *block_offset, const int32_t *block_tables, int heads,
                     int kv_heads, int block_size, float scale, int64_t window)
{
    sl::pdl_wait(); /* first: see sl::launch */
#ifdef SL_WGMMA
    constexpr int KC = kHd / 16, DN = kHd / 8, NT = kTileK / 8;
    extern __shared__ __align__(1024) uint16_t kv_smem[];
    const PrefillTile t = prefill_tile(tiles, positions, block_offset, block_tables, heads,
                                       kv_heads, window, kTileK);
    const int c = threadIdx.x % 4;
    const float qscale = scale * kLog2e;
    auto k_tile = [&](int j) { return kv_smem + (j & 1) * 2 * kTileElems; };
    auto load_tile = [&](int j) {
        load_kv_tile<kTileK, kHd, Layout>(k_tile(j), k_tile(j) + kTileElems, k_cache, v_cache,
                                          t.table, t.kb0 + (int64_t)j * kTileK, t.lo_tile,
                                          t.hi_tile, block_size, kv_heads, t.kvh);
    };

    load_tile(0);
    uint32_t qf[KC][4]; /* Q's A fragments: this warp's 16 rows, 128 head dims */
    load_tile_q<KC, kHd>(qf, q, q_ld, t, c);

    float o[DN][4] = {};    /* O [64 x 128]: rows g, g + 8, columns 8 dn + 2 c .. + 1 */
    float s[NT][4] = {};    /* S [64 x 64]: rows g, g + 8, keys 8 nt + 2 c .. + 1 */
    uint32_t pf[NT / 2][4]; /* P's A fragments */
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f; /* l: this lane's part */

    for (int j = 0; j < t.ntiles; j++) {
        if (j + 1 < t.ntiles) {
            load_tile(j + 1);
            cp_async_wait<1>(); /* tile j has landed (this thread's part) */
        } else {
            cp_async_wait<0>();
        }
        wg::fence_proxy_shared(); /* ... for the tensor cores' reads */
        __syncthreads();          /* ... and everyone's */
        wg::fence();
        issue_qk(s, qf, k_tile(j));
        wg::wait<0>();
        wg::pin(s);

        /* masked here, scaled in softmax_scores' exponent; finite masks:
         * a row of the tile may have no key yet (rows past cnt never) */
        const int64_t kb = t.kb0 + (int64_t)j * kTileK;
        scale_causal<NT>(s, kb, kb + kTileK - 1 <= t.warp_first && kb >= t.warp_lo, 1.0f,
                         t.qpos0, t.qpos1, t.lo0, t.lo1, c, kMaskedFinite);
        float a0, a1;
        softmax_scores<NT, false>(s, m0, m1, l0, l1, a0, a1, qscale);
        rescale_if_needed(o, a0, a1);
        pack_p(pf, s);

        wg::fence();
        issue_pv(o, pf, k_tile(j) + kTileElems);
        wg::wait<0>();
        wg::pin(o);
        __syncthreads(); /* tile j's stage is refilled by the next iteration */
    }
    store_prefill_rows<DN>(out, (size_t)heads * kHd, o, l0, l1, t.t0, t.r0, t.r1, t.cnt,
                           t.head * kHd, c);
#else
    __trap(); /* the host launches it only where sm_90a code runs (prefill_wgmma_ok) */
#endif
}

} // namespace

namespace sl {
namespace attn {

bool prefill_wgmma_ok(int head_dim)
{
#ifdef SL_CUDA_SM90A
    static const bool enabled = [] { /* SLINFER_PREFILL_WGMMA=0 keeps mma.sync */
        const char *e = getenv("SLINFER_PREFILL_WGMMA");
        return e == nullptr || strcmp(e, "0") != 0;
    }();
    /* where the sm_90a machine code runs: compute capability 9.0 */
    auto ask = [](int dev) {
        int major = 0, minor = 0;
        return cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ==
                   cudaSuccess &&
               cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) ==
                   cudaSuccess &&
               major == 9 && minor == 0;
    };
    static int answers[sl::kMaxDevices];
    return head_dim == kHd && enabled && sl::device_answer(answers, ask);
#else
    (void)head_dim;
    return false;
#endif
}

sl_status_t launch_prefill_wgmma(bf16 *out, const bf16 *q, int q_ld, const bf16 *kc,
                                 const bf16 *vc, const sl_cuda_attn_meta_t *m,
                                 const sl_cuda_attn_shape_t *sh, cudaStream_t stream)
{
    dim3 grid((unsigned)m->num_tiles, (unsigned)sh->num_heads);
    /* 64 KB: past the 48 KB default (per device, so every launch sets it) */
    SL_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        prefill_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSmem));
    (void)sl::launch(prefill_wgmma_kernel, grid, kThreads, kSmem, stream, out, q, q_ld, kc, vc,
                     m->tiles, m->positions, m->block_offset, m->block_tables, sh->num_heads,
                     sh->num_kv_heads, sh->block_size, sh->scale, sh->window);
    return SL_OK;
}

} // namespace attn
} // namespace sl
