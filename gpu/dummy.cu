/*
 * dummy.cu - --load-format dummy weights generated in device memory.
 *
 * Twin of sl_model_random_value / sl_model_random_fill (src/model/model.c):
 * the same counter-based values, bit for bit, so a benchmark of a 70B shape
 * does not spend a minute generating and copying 140 GB from the host, and
 * the CUDA backend on device-generated weights can still be compared with the
 * CPU backend on host-generated ones. Element INDEX of the full tensor is
 *
 *     r   = splitmix64(key + INDEX),  key = splitmix64(seed ^ fnv1a(name))
 *     u   = (r >> 40) * 2^-24;  sign = r & 1 ? -1 : 1;  mag = 0.1 + 0.9 u
 *     embedding: sign * mag;  other matrices: sign * mag * 1.7 / sqrt(in)
 *
 * in float32 with every operation rounded on its own (__fmul_rn, __fadd_rn,
 * __fdiv_rn: no contraction into FMAs, which the host does not do either),
 * then rounded to bf16.
 */
#include "config.h"

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

using sl::bf16;

__device__ __forceinline__ uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* dst: [rows, ld], columns [0, cols); the shard starts at (row_begin,
 * col_begin) of a tensor with FULL_COLS columns. */
__global__ void random_fill_kernel(bf16 *dst, int64_t rows, int64_t cols, int64_t ld,
                                   uint64_t key, int embed, float denom, int64_t row_begin,
                                   int64_t col_begin, int64_t full_cols)
{
    const int64_t total = rows * cols;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = e / cols, c = e % cols;
        const uint64_t index = (uint64_t)((row_begin + r) * full_cols + col_begin + c);
        const uint64_t x = splitmix64(key + index);
        const float u = __fmul_rn((float)(x >> 40), 0x1p-24f);
        const float sign = (x & 1u) ? -1.0f : 1.0f;
        const float mag = __fadd_rn(0.1f, __fmul_rn(0.9f, u));
        float v = __fmul_rn(sign, mag);
        if (!embed)
            v = __fdiv_rn(__fmul_rn(v, 1.7f), denom);
        dst[r * ld + c] = sl::to_bf(v);
    }
}

} // namespace

extern "C" sl_status_t sl_cuda_random_fill_bf16(uint16_t *dst, int64_t rows, int64_t cols,
                                                int64_t ld, uint64_t key, int embed,
                                                float denom, int64_t row_begin,
                                                int64_t col_begin, int64_t full_cols,
                                                cudaStream_t stream)
{
    if (dst == nullptr || rows < 0 || cols < 0 || ld < cols || full_cols < cols) {
        sl_error("sl_cuda_random_fill_bf16: invalid arguments (rows=%lld cols=%lld)",
                 (long long)rows, (long long)cols);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0 || cols == 0)
        return SL_OK;
    int64_t blocks = (rows * cols + 255) / 256;
    random_fill_kernel<<<(unsigned)(blocks > 65536 ? 65536 : blocks), 256, 0, stream>>>(
        reinterpret_cast<bf16 *>(dst), rows, cols, ld, key, embed, denom, row_begin, col_begin,
        full_cols);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_random_fill_bf16");
    return SL_OK;
}
