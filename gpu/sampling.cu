/*
 * sampling.cu - greedy sampling on the GPU: the argmax of each logits row.
 *
 * Twin of sl_cpu_argmax (src/backend/cpu/argmax.c): the largest value of the
 * row and its column plus INDEX_BASE (a TP rank's first vocabulary id), the
 * lowest column among equal values. Copying [rows, vocab] float32 logits to
 * the host costs more than the decode step itself at large batches (128 MB
 * at 256 x 128256); with this only 8 bytes per row leave the GPU. Two
 * stages: blocks of a row's column ranges (so a single row, at batch 1, still
 * spreads over up to SL_CUDA_ARGMAX_MAX_PARTS SMs), then a warp per row over
 * their results.
 */
#include "config.h"

#include <math.h>

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 8; /* loads in flight per thread */
constexpr int kPartColumns = kThreads * kUnroll; /* columns per stage-1 block (at least) */

/* (value, index) of the better candidate: larger value, then lower index. */
__device__ __forceinline__ void better(float &v, int &i, float ov, int oi)
{
    if (ov > v || (ov == v && oi < i)) {
        v = ov;
        i = oi;
    }
}

/* The best of each thread's candidates: a warp, then the block (whose
 * threads must all call it); the result is in thread 0's V and I. */
__device__ __forceinline__ void block_best(float &v, int &i)
{
    __shared__ float vals[kThreads / 32];
    __shared__ int idxs[kThreads / 32];
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, off);
        const int oi = __shfl_xor_sync(0xffffffffu, i, off);
        better(v, i, ov, oi);
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        vals[warp] = v;
        idxs[warp] = i;
    }
    __syncthreads();
    if (warp == 0) {
        const int nw = blockDim.x / 32;
        v = lane < nw ? vals[lane] : -INFINITY;
        i = lane < nw ? idxs[lane] : INT32_MAX;
#pragma unroll
        for (int off = 16; off > 0; off /= 2) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, off);
            const int oi = __shfl_xor_sync(0xffffffffu, i, off);
            better(v, i, ov, oi);
        }
    }
}

/*
 * Stage 1: block (row, part) takes columns [part * span, (part + 1) * span)
 * of the row, kUnroll independent loads in flight per thread (one load at a
 * time made a 128k-column row a chain of dependent round trips: ~100 us on
 * one SM). partial [rows, parts]: the part's best, index cols when it has no
 * candidate (past the end: loses every tie).
 * logits: [rows, ld], columns [0, cols).
 */
__global__ void __launch_bounds__(kThreads)
argmax_part_kernel(sl_cuda_argmax_t *partial, const float *logits, int cols, int64_t ld,
                   int span)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const float *row = logits + (size_t)blockIdx.x * ld;
    const int begin = blockIdx.y * span, end = min(cols, begin + span);
    float v = -INFINITY;
    int i = cols;

    for (int c0 = begin + threadIdx.x; c0 < end; c0 += kUnroll * blockDim.x) {
        float x[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const int c = c0 + u * blockDim.x;
            x[u] = c < end ? row[c] : -INFINITY;
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++)
            if (c0 + u * blockDim.x < end)
                better(v, i, x[u], c0 + u * blockDim.x);
    }
    block_best(v, i);
    if (threadIdx.x == 0)
        partial[(size_t)blockIdx.x * gridDim.y + blockIdx.y] = {v, i};
}

/* Stage 2: one warp per row over its PARTS partials; out [rows]. The best
 * of the parts is the best of the row: better() orders candidates totally,
 * whatever the grouping. */
__global__ void __launch_bounds__(32)
argmax_final_kernel(sl_cuda_argmax_t *out, const sl_cuda_argmax_t *partial, int parts,
                    const float *logits, int cols, int64_t ld, int32_t index_base)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const sl_cuda_argmax_t *p = partial + (size_t)blockIdx.x * parts;
    float v = -INFINITY;
    int i = cols;

    for (int k = threadIdx.x; k < parts; k += 32)
        better(v, i, p[k].value, p[k].index);
#pragma unroll
    for (int off = 16; off > 0; off /= 2) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, off);
        const int oi = __shfl_xor_sync(0xffffffffu, i, off);
        better(v, i, ov, oi);
    }
    if (threadIdx.x == 0) {
        /* A row of only NaN/-inf keeps column 0, as the twin does. */
        out[blockIdx.x].value = i < cols ? v : logits[(size_t)blockIdx.x * ld];
        out[blockIdx.x].index = (i < cols ? i : 0) + index_base;
    }
}

} // namespace

extern "C" int sl_cuda_argmax_parts(int cols)
{
    const int parts = (cols + kPartColumns - 1) / kPartColumns;
    return parts < 1 ? 1 : parts > SL_CUDA_ARGMAX_MAX_PARTS ? SL_CUDA_ARGMAX_MAX_PARTS : parts;
}

extern "C" sl_status_t sl_cuda_argmax_f32(sl_cuda_argmax_t *out, const float *logits, int rows,
                                          int cols, int64_t ld, int32_t index_base,
                                          sl_cuda_argmax_t *partial, cudaStream_t stream)
{
    if (rows < 0 || cols <= 0 || ld < cols || out == nullptr || logits == nullptr ||
        partial == nullptr) {
        sl_error("sl_cuda_argmax_f32: invalid arguments (rows=%d cols=%d ld=%lld)", rows, cols,
                 (long long)ld);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0)
        return SL_OK;
    const int parts = sl_cuda_argmax_parts(cols);
    const int span = (cols + parts - 1) / parts;
    (void)sl::launch(argmax_part_kernel, dim3((unsigned)rows, (unsigned)parts), kThreads, 0,
                     stream, partial, logits, cols, ld, span);
    (void)sl::launch(argmax_final_kernel, (unsigned)rows, 32, 0, stream, out,
                     (const sl_cuda_argmax_t *)partial, parts, logits, cols, ld, index_base);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_argmax_f32");
    return SL_OK;
}
