/*
 * sampling.cu - greedy sampling on the GPU: the argmax of each logits row.
 *
 * Twin of sl_cpu_argmax (src/backend/cpu/argmax.c): the largest value of the
 * row and its column plus INDEX_BASE (a TP rank's first vocabulary id), the
 * lowest column among equal values. Copying [rows, vocab] float32 logits to
 * the host costs more than the decode step itself at large batches (128 MB
 * at 256 x 128256); with this only 8 bytes per row leave the GPU. One block
 * per row; each thread scans a strided slice, then a warp and a block
 * reduction.
 */
#include "config.h"

#include <math.h>

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

constexpr int kThreads = 512;

/* (value, index) of the better candidate: larger value, then lower index. */
__device__ __forceinline__ void better(float &v, int &i, float ov, int oi)
{
    if (ov > v || (ov == v && oi < i)) {
        v = ov;
        i = oi;
    }
}

/* logits: [rows, ld], columns [0, cols); out: [rows]. */
__global__ void __launch_bounds__(kThreads)
argmax_kernel(sl_cuda_argmax_t *out, const float *logits, int cols, int64_t ld,
              int32_t index_base)
{
    sl::pdl_wait(); /* first: see sl::launch */
    __shared__ float vals[kThreads / 32];
    __shared__ int idxs[kThreads / 32];
    const float *row = logits + (size_t)blockIdx.x * ld;
    float v = -INFINITY;
    int i = cols; /* past the end: loses every tie */

    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        better(v, i, row[c], c);
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
        i = lane < nw ? idxs[lane] : cols;
#pragma unroll
        for (int off = 16; off > 0; off /= 2) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, off);
            const int oi = __shfl_xor_sync(0xffffffffu, i, off);
            better(v, i, ov, oi);
        }
        if (lane == 0) {
            /* A row of only NaN/-inf keeps column 0, as the twin does. */
            out[blockIdx.x].value = i < cols ? v : row[0];
            out[blockIdx.x].index = (i < cols ? i : 0) + index_base;
        }
    }
}

} // namespace

extern "C" sl_status_t sl_cuda_argmax_f32(sl_cuda_argmax_t *out, const float *logits, int rows,
                                          int cols, int64_t ld, int32_t index_base,
                                          cudaStream_t stream)
{
    if (rows < 0 || cols <= 0 || ld < cols || out == nullptr || logits == nullptr) {
        sl_error("sl_cuda_argmax_f32: invalid arguments (rows=%d cols=%d ld=%lld)", rows, cols,
                 (long long)ld);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0)
        return SL_OK;
    (void)sl::launch(argmax_kernel, rows, kThreads, 0, stream, out, logits, cols, ld, index_base);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_argmax_f32");
    return SL_OK;
}
