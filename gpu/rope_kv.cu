/*
 * rope_kv.cu - everything between the fused QKV GEMM and attention, in one
 * pass: the QKV bias (Qwen2), the per-head q/k RMSNorm (Qwen3), RoPE on q and
 * k, and the store of k and v into their paged-cache slots (bf16).
 *
 * Twin of sl_cpu_qkv_rope_store (src/backend/cpu/rope_kv.c). Blocks of
 * kThreads / 32 warps, one warp per head (q heads, then k heads, then v
 * heads): grid (tokens, heads / warps), so a decode step's few tokens still
 * spread over many SMs instead of one block walking a token's heads in turn;
 * a lane
 * holds the pairs (i, i + half) of RoPE's rotate_half convention, so the
 * rotation needs no data exchange and the norm one warp sum. Arithmetic is
 * float32 from the bf16 GEMM output with one rounding at the store: fewer
 * roundings than HuggingFace's bf16 module chain, which only brings the result
 * closer to the float32 oracle.
 */
#include "config.h"

#include "rope.cuh"
#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

using sl::bf16;

constexpr int kThreads = 128;

/*
 * qkv:       [n, (heads + 2 kv_heads) * head_dim]: q rotated in place; k and v
 *            parts read only
 * bias:      [(heads + 2 kv_heads) * head_dim] or nullptr
 * q_norm:    [head_dim] or nullptr; k_norm likewise (both or neither)
 * cos, sin:  [max_position, head_dim / 2]
 * positions: [n]; slots: [n] cache slot of each token
 * k_cache, v_cache: [slots, kv_heads, head_dim]
 */
__global__ void __launch_bounds__(kThreads)
qkv_rope_store_kernel(bf16 *qkv, const float *bias, const bf16 *q_norm, const bf16 *k_norm,
                      float eps, const float *cos_table, const float *sin_table,
                      const int32_t *positions, const int64_t *slots, int heads, int kv_heads,
                      int head_dim, bf16 *k_cache, bf16 *v_cache)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int t = blockIdx.x;
    const int warp = blockIdx.y * (blockDim.x / sl::kWarp) + threadIdx.x / sl::kWarp;
    const int lane = threadIdx.x % sl::kWarp;
    const int nwarps = gridDim.y * (blockDim.x / sl::kWarp);
    const int half = head_dim / 2;
    const int units = heads + 2 * kv_heads;
    const size_t ld = (size_t)units * head_dim;
    const int pos = positions[t];
    const int64_t slot = slots[t];
    const float *cs = cos_table + (size_t)pos * half; /* [half] */
    const float *sn = sin_table + (size_t)pos * half; /* [half] */

    for (int u = warp; u < units; u += nwarps) {
        const bool is_q = u < heads, is_k = !is_q && u < heads + kv_heads;
        const size_t col0 = (size_t)u * head_dim;
        bf16 *x = qkv + (size_t)t * ld + col0; /* [head_dim] this head */
        const float *b = bias != nullptr ? bias + col0 : nullptr;

        if (!is_q && !is_k) { /* v: straight to the cache */
            const int kh = u - heads - kv_heads;
            bf16 *dst = v_cache + ((size_t)slot * kv_heads + kh) * head_dim;
            for (int i = lane; i < head_dim; i += sl::kWarp)
                dst[i] = sl::rope::v_value(x[i], b, i);
            continue;
        }

        /* Per-head RMSNorm (Qwen3) needs the head's sum of squares first. */
        const bf16 *nw = is_q ? q_norm : k_norm;
        float inv_rms = 1.0f;
        if (nw != nullptr) {
            float sum_sq = 0.0f;
            for (int i = lane; i < head_dim; i += sl::kWarp) {
                float v = sl::to_f(x[i]) + (b != nullptr ? b[i] : 0.0f);
                sum_sq += v * v;
            }
            inv_rms = rsqrtf(sl::warp_sum(sum_sq) / (float)head_dim + eps);
        }

        bf16 *dst = is_q ? x
                         : k_cache + ((size_t)slot * kv_heads + (u - heads)) * head_dim;
        for (int i = lane; i < half; i += sl::kWarp) {
            float a = sl::to_f(x[i]), c = sl::to_f(x[i + half]);
            if (b != nullptr) {
                a += b[i];
                c += b[i + half];
            }
            if (nw != nullptr) {
                a = a * inv_rms * sl::to_f(nw[i]);
                c = c * inv_rms * sl::to_f(nw[i + half]);
            }
            sl::rope::rotate(a, c, cs[i], sn[i], dst[i], dst[i + half]);
        }
    }
}

} // namespace

extern "C" sl_status_t sl_cuda_qkv_rope_store_bf16(
    uint16_t *qkv, const float *bias, const uint16_t *q_norm, const uint16_t *k_norm, float eps,
    const float *cos_table, const float *sin_table, const int32_t *positions,
    const int64_t *slots, int n, int heads, int kv_heads, int head_dim, uint16_t *k_cache,
    uint16_t *v_cache, cudaStream_t stream)
{
    if (n < 0 || heads <= 0 || kv_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 ||
        qkv == nullptr || cos_table == nullptr || sin_table == nullptr ||
        positions == nullptr || slots == nullptr || k_cache == nullptr || v_cache == nullptr ||
        (q_norm == nullptr) != (k_norm == nullptr)) {
        sl_error("sl_cuda_qkv_rope_store_bf16: invalid arguments (n=%d heads=%d kv_heads=%d "
                 "head_dim=%d)",
                 n, heads, kv_heads, head_dim);
        return SL_ERR_INVALID_ARG;
    }
    if (n == 0)
        return SL_OK;
    const int units = heads + 2 * kv_heads, warps = kThreads / sl::kWarp;
    const dim3 grid((unsigned)n, (unsigned)((units + warps - 1) / warps));
    (void)sl::launch(qkv_rope_store_kernel, grid, kThreads, 0, stream,
                     reinterpret_cast<bf16 *>(qkv), bias, reinterpret_cast<const bf16 *>(q_norm),
                     reinterpret_cast<const bf16 *>(k_norm), eps, cos_table, sin_table, positions,
                     slots, heads, kv_heads, head_dim, reinterpret_cast<bf16 *>(k_cache),
                     reinterpret_cast<bf16 *>(v_cache));
    SL_CUDA_CHECK_LAUNCH("sl_cuda_qkv_rope_store_bf16");
    return SL_OK;
}
