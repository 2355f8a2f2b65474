/*
 * rmsnorm.cu - RMSNorm with the residual add fused, on the GPU.
 *
 * Twin of src/backend/cpu/rmsnorm.c. One thread block per row: each thread
 * walks the row in 16-byte packets (4 floats or 8 bf16), adds the residual
 * and writes it back, accumulates its sum of squares, the block reduces it,
 * and a second pass scales by 1/rms and the weight. The second pass re-reads
 * the row the same thread just wrote, so it comes from L1/L2, not HBM: the
 * kernel moves each byte of x, residual and out once (weight is L2-resident
 * across rows). The arithmetic and the thread count are rmsnorm.cuh's,
 * shared with the all-reduce fused with the norm (allreduce.cu), which must
 * give the same bits.
 */
#include "config.h"

#include "rmsnorm.cuh"
#include "sl_kernels.h"

namespace {

namespace rms = sl::rms;

/* N elements of T moved with one 16-byte (or smaller) load/store. */
template <typename T, int N> struct alignas(sizeof(T) * N) Packet {
    T v[N];
};

/*
 * out:      [rows, dim]   (may alias x)
 * x:        [rows, dim]
 * residual: [rows, dim]   updated in place, or nullptr
 * weight:   [dim]
 * grid = rows, block = threads; N = elements per packet, dim % N == 0.
 */
template <typename T, int N>
__global__ void rmsnorm_kernel(T *out, const T *x, T *residual, const T *weight, int dim,
                               float eps)
{
    sl::pdl_wait(); /* first: see sl::launch */
    using P = Packet<T, N>;
    const size_t row_offset = (size_t)blockIdx.x * (size_t)dim;
    const P *xr = reinterpret_cast<const P *>(x + row_offset);
    P *res = residual != nullptr ? reinterpret_cast<P *>(residual + row_offset) : nullptr;
    P *o = reinterpret_cast<P *>(out + row_offset);
    const P *w = reinterpret_cast<const P *>(weight);
    const int npackets = dim / N;

    float sum_sq = 0.0f;
    for (int p = threadIdx.x; p < npackets; p += blockDim.x) {
        P z = xr[p];
        if (res != nullptr) {
            const P r = res[p];
#pragma unroll
            for (int k = 0; k < N; k++)
                z.v[k] = rms::add(z.v[k], r.v[k]);
            res[p] = z;
        }
#pragma unroll
        for (int k = 0; k < N; k++)
            sum_sq = rms::add_square(sum_sq, z.v[k]);
    }
    const float inv_rms = rms::inv_rms(sl::block_sum(sum_sq), dim, eps);

    const P *zr = res != nullptr ? res : xr;
    for (int p = threadIdx.x; p < npackets; p += blockDim.x) {
        const P z = zr[p];
        const P wp = w[p];
        P y;
#pragma unroll
        for (int k = 0; k < N; k++)
            y.v[k] = rms::scale(z.v[k], inv_rms, wp.v[k]);
        o[p] = y;
    }
}

template <typename T>
sl_status_t launch_rmsnorm(const char *name, T *out, const T *x, T *residual, const T *weight,
                           int rows, int dim, float eps, cudaStream_t stream)
{
    constexpr int kVec = 16 / sizeof(T);

    if (rows < 0 || dim <= 0 || out == nullptr || x == nullptr || weight == nullptr) {
        sl_error("%s: invalid arguments (rows=%d dim=%d out=%p x=%p weight=%p)", name, rows,
                 dim, (void *)out, (const void *)x, (const void *)weight);
        return SL_ERR_INVALID_ARG;
    }
    if (rows == 0)
        return SL_OK;

    const bool vector = dim % kVec == 0 && sl::aligned16(out) && sl::aligned16(x) &&
                        sl::aligned16(residual) && sl::aligned16(weight);
    const int threads = rms::threads_for(vector ? dim / kVec : dim);

    if (vector)
        (void)sl::launch(rmsnorm_kernel<T, kVec>, rows, threads, 0, stream, out, x, residual,
                         weight, dim, eps);
    else
        (void)sl::launch(rmsnorm_kernel<T, 1>, rows, threads, 0, stream, out, x, residual, weight,
                         dim, eps);
    SL_CUDA_RETURN_IF_ERROR(cudaGetLastError());
    return SL_OK;
}

} // namespace

extern "C" sl_status_t sl_cuda_rmsnorm_f32(float *out, const float *x, float *residual,
                                           const float *weight, int rows, int dim, float eps,
                                           cudaStream_t stream)
{
    return launch_rmsnorm<float>("sl_cuda_rmsnorm_f32", out, x, residual, weight, rows, dim,
                                 eps, stream);
}

extern "C" sl_status_t sl_cuda_rmsnorm_bf16(uint16_t *out, const uint16_t *x, uint16_t *residual,
                                            const uint16_t *weight, int rows, int dim, float eps,
                                            cudaStream_t stream)
{
    return launch_rmsnorm<__nv_bfloat16>(
        "sl_cuda_rmsnorm_bf16", reinterpret_cast<__nv_bfloat16 *>(out),
        reinterpret_cast<const __nv_bfloat16 *>(x), reinterpret_cast<__nv_bfloat16 *>(residual),
        reinterpret_cast<const __nv_bfloat16 *>(weight), rows, dim, eps, stream);
}
