/*
 * activation.cu - SwiGLU's silu(gate) * up on the fused gate/up GEMM output,
 * and a float32 bias added to bf16 rows.
 *
 * Twins: sl_cpu_silu_mul and sl_cpu_add_bias (src/backend/cpu/activation.c).
 * The GPU takes gate and up from one [n, 2 * inter] buffer (the gate/up
 * projections are one GEMM: gate rows first, then up rows, so each output row
 * holds gate[0..inter) then up[0..inter)); the product is computed in float32
 * and rounded to bf16 once.
 */
#include "config.h"

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

using sl::bf16;
using sl::Bf16x8;

/* out: [n, inter]; gu: [n, 2 * inter]; grid-stride over packets of 8. */
__global__ void silu_mul_vec_kernel(bf16 *out, const bf16 *gu, int64_t n, int inter)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int per_row = inter / 8;
    const int64_t total = n * per_row;
    for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < total;
         p += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = p / per_row;
        const int col = (int)(p % per_row) * 8;
        const Bf16x8 g = *reinterpret_cast<const Bf16x8 *>(gu + row * 2 * inter + col);
        const Bf16x8 u = *reinterpret_cast<const Bf16x8 *>(gu + row * 2 * inter + inter + col);
        Bf16x8 y;
#pragma unroll
        for (int k = 0; k < 8; k++)
            y.v[k] = sl::to_bf(sl::silu(sl::to_f(g.v[k])) * sl::to_f(u.v[k]));
        *reinterpret_cast<Bf16x8 *>(out + row * inter + col) = y;
    }
}

__global__ void silu_mul_kernel(bf16 *out, const bf16 *gu, int64_t n, int inter)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int64_t total = n * inter;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = i / inter;
        const int col = (int)(i % inter);
        const float g = sl::to_f(gu[row * 2 * inter + col]);
        const float u = sl::to_f(gu[row * 2 * inter + inter + col]);
        out[i] = sl::to_bf(sl::silu(g) * u);
    }
}

/* x: [rows, dim] += bias [dim], in float32, rounded once. */
__global__ void add_bias_kernel(bf16 *x, const float *bias, int64_t rows, int dim)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int64_t total = rows * dim;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = sl::to_bf(sl::to_f(x[i]) + bias[i % dim]);
}

unsigned grid_for(int64_t work)
{
    int64_t blocks = (work + 255) / 256;
    return (unsigned)(blocks > 65536 ? 65536 : blocks < 1 ? 1 : blocks);
}

} // namespace

extern "C" sl_status_t sl_cuda_silu_mul_bf16(uint16_t *out, const uint16_t *gate_up, int n,
                                             int inter, cudaStream_t stream)
{
    if (n < 0 || inter <= 0 || out == nullptr || gate_up == nullptr) {
        sl_error("sl_cuda_silu_mul_bf16: invalid arguments (n=%d inter=%d)", n, inter);
        return SL_ERR_INVALID_ARG;
    }
    if (n == 0)
        return SL_OK;
    bf16 *o = reinterpret_cast<bf16 *>(out);
    const bf16 *gu = reinterpret_cast<const bf16 *>(gate_up);
    if (inter % 8 == 0 && sl::aligned16(out) && sl::aligned16(gate_up))
        (void)sl::launch(silu_mul_vec_kernel, grid_for((int64_t)n * inter / 8), 256, 0, stream, o,
                         gu, n, inter);
    else
        (void)sl::launch(silu_mul_kernel, grid_for((int64_t)n * inter), 256, 0, stream, o, gu, n,
                         inter);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_silu_mul_bf16");
    return SL_OK;
}

extern "C" sl_status_t sl_cuda_add_bias_bf16(uint16_t *x, const float *bias, int rows, int dim,
                                             cudaStream_t stream)
{
    if (rows < 0 || dim <= 0 || x == nullptr || bias == nullptr) {
        sl_error("sl_cuda_add_bias_bf16: invalid arguments (rows=%d dim=%d)", rows, dim);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0)
        return SL_OK;
    (void)sl::launch(add_bias_kernel, grid_for((int64_t)rows * dim), 256, 0, stream,
                     reinterpret_cast<bf16 *>(x), bias, rows, dim);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_add_bias_bf16");
    return SL_OK;
}
