/*
 * gemv.cu - out = x . W^T for a few rows of x (decode), bf16 weights in
 * HuggingFace's [out, in] layout, float32 accumulation.
 *
 * Twin of sl_cpu_matmul (src/backend/cpu/matmul.c) without bias. At decode
 * batch sizes the product is a pass over W: the kernel must stream W at the
 * HBM rate, which cuBLAS does not reach for these shapes (about half of it,
 * DESIGN-NOTES.md). Two kernels:
 *
 * - one row of x (gemv_kernel): one warp per output row, gemv.cuh's loop
 *   (U = 4 packets in flight per lane; 8 measured slower on an H200:
 *   docs/PERFORMANCE.md, 2026-11-28; SLINFER_GEMV_UNROLL=8 selects it).
 *   Long rows (8192 columns and more) are cut into 4 parts, a warp each
 *   (gemv_split_kernel): more warps to stream them. Both can add their
 *   product into the residual stream instead of storing it
 *   (sl_cuda_gemv_residual_bf16), where the norm after it runs inside the
 *   next GEMV (gemv_fused.cu). The kernels that fuse other work into the
 *   same loop are in gemv_fused.cu.
 * - 2..8 rows (gemv_mma_kernel): the same stream of weights into m16n8k16
 *   tensor-core MMAs, x rows as the MMA's 8 columns, as many x bytes as the
 *   weights' N / 16 (the one-warp-per-row kernel reads N times the weights'
 *   bytes of x from L1 and falls behind cuBLAS from N = 2 on).
 */
#include "config.h"

#include <stdlib.h>

#include "gemv.cuh"
#include "rmsnorm.cuh"
#include "sl_device.cuh"

#include "sl_kernels.h"

namespace {

using sl::bf16;
using namespace sl::gemv;

/* The product V into OUT[AT]: stored (bf16 or float32), or with RES added
 * into the residual stream OUT as rmsnorm.cu adds x into it (the stored bf16
 * product plus the residual RESIDUAL, out[at] loaded by the caller before
 * the product so that its latency hides under it; rounded). */
template <bool F32, bool RES>
__device__ __forceinline__ void store_row(void *out, size_t at, float v, bf16 residual)
{
    if (F32)
        static_cast<float *>(out)[at] = v;
    else
        static_cast<bf16 *>(out)[at] = RES ? sl::rms::add(sl::to_bf(v), residual) : sl::to_bf(v);
}

/* out[at] where RES needs it for store_row; else nothing read. */
template <bool RES> __device__ __forceinline__ bf16 residual_at(const void *out, size_t at)
{
    return RES ? static_cast<const bf16 *>(out)[at] : bf16();
}

/*
 * out: [N, ldo] float32 or bf16, columns [0, out_dim) written (RES: bf16,
 *      added to)
 * x:   [N, ldx] bf16, columns [0, in_dim) read
 * w:   [out_dim, in_dim] bf16
 */
template <int N, bool F32, int U, bool RES>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_kernel(void *out, int64_t ldo, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim,
            int in_dim)
{
    static_assert(!(F32 && RES), "the residual stream is bf16");
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRowsPerBlock + warp;
    if (row >= out_dim)
        return; /* no block-wide synchronisation follows */
    bf16 residual[N];
#pragma unroll
    for (int n = 0; n < N; n++)
        if (lane == n % 32)
            residual[n] = residual_at<RES>(out, (size_t)n * ldo + row);
    float acc[N];
    row_sums<N, U>(acc, w + (size_t)row * in_dim, x, ldx, in_dim, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        if (lane == n % 32)
            store_row<F32, RES>(out, (size_t)n * ldo + row, acc[n], residual[n]);
    }
}

/*
 * The same product on the tensor cores, for 2..8 rows of x, where the
 * one-warp-per-row kernel multiplies every weight packet with N packets of x
 * read from L1 (N = 8: as many L1 bytes as the SM can move; 2.2x slower than
 * at N = 1, and slower than cuBLAS from N = 2 on: docs/PERFORMANCE.md,
 * 2026-11-29). A block of kMmaWarps warps takes 16 R output rows; warp w the
 * w-th share of the columns, in chunks of 32: lane (g, c) = (lane / 4,
 * lane % 4) loads 16 bytes (8 columns, 8c .. 8c + 7 of the chunk) of rows g
 * and g + 8 of each of its R tiles of 16 rows and of x row g (zero for
 * g >= N), and two m16n8k16 MMAs a tile consume them: as a dot product does
 * not care in which order its columns come, the MMA's columns 2c, 2c + 1,
 * 2c + 8, 2c + 9 are the chunk's 8c .. 8c + 3 in the first and
 * 8c + 4 .. 8c + 7 in the second, for the weights and x alike. So the weights
 * stream in 16-byte loads as in gemv_kernel, and x, which every tile reads
 * whole from L2 (too large for L1 at 8 rows of 14336), costs N / (16 R) of
 * the weights' bytes: R = 2 from 5 rows on. The MMAs' float32 accumulators
 * (rows g, g + 8 of a tile; x rows 2c, 2c + 1) are summed over the warps in
 * order through shared memory.
 *
 * out: [N, ldo] float32 or bf16; x: [N, ldx]; w: [out_dim, in_dim],
 * in_dim % 32 == 0; grid = ceil(out_dim / (16 R))
 */
constexpr int kMmaWarps = 8;
constexpr int kMmaUnroll = 4; /* chunks in flight: R KB of weights a warp */

template <int N> __host__ __device__ constexpr int mma_tiles() { return N > 4 ? 2 : 1; }

template <int N, bool F32>
__global__ void __launch_bounds__(kMmaWarps * 32)
gemv_mma_kernel(void *out, int64_t ldo, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim,
                int in_dim)
{
    constexpr int R = mma_tiles<N>();
    __shared__ float part[kMmaWarps][16 * R][8]; /* [warp][row][x row] */
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    const int row0 = blockIdx.x * 16 * R;
    const int chunks = in_dim / 32;
    const int first = warp * chunks / kMmaWarps, last = (warp + 1) * chunks / kMmaWarps;
    const uint4 *wr[R][2]; /* rows g, g + 8 of each tile; past the matrix: its last row */
#pragma unroll
    for (int i = 0; i < R; i++)
#pragma unroll
        for (int h = 0; h < 2; h++)
            wr[i][h] = reinterpret_cast<const uint4 *>(
                           w + (size_t)min(row0 + 16 * i + 8 * h + g, out_dim - 1) * in_dim) +
                       c;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x + (size_t)(g < N ? g : 0) * ldx) + c;
    float d[R][4] = {};

    for (int k = first; k < last; k += kMmaUnroll) {
        uint4 vw[kMmaUnroll][R][2], vx[kMmaUnroll];
#pragma unroll
        for (int u = 0; u < kMmaUnroll; u++) {
            if (k + u < last) {
#pragma unroll
                for (int i = 0; i < R; i++)
#pragma unroll
                    for (int h = 0; h < 2; h++)
                        vw[u][i][h] = load_stream(wr[i][h] + (size_t)(k + u) * 4);
                vx[u] = g < N ? xr[(size_t)(k + u) * 4] : make_uint4(0, 0, 0, 0);
            }
        }
#pragma unroll
        for (int u = 0; u < kMmaUnroll; u++) {
            if (k + u < last) {
#pragma unroll
                for (int i = 0; i < R; i++) {
                    const uint4 &a = vw[u][i][0], &b = vw[u][i][1];
                    const uint32_t a0[4] = {a.x, b.x, a.y, b.y};
                    const uint32_t a1[4] = {a.z, b.z, a.w, b.w};
                    sl::mma_bf16(d[i], a0, vx[u].x, vx[u].y);
                    sl::mma_bf16(d[i], a1, vx[u].z, vx[u].w);
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < R; i++) {
        part[warp][16 * i + g][2 * c] = d[i][0];
        part[warp][16 * i + g][2 * c + 1] = d[i][1];
        part[warp][16 * i + g + 8][2 * c] = d[i][2];
        part[warp][16 * i + g + 8][2 * c + 1] = d[i][3];
    }
    __syncthreads();
    /* threads 0 .. 128 R - 1: 16 R rows x 8 x rows */
    const int t = threadIdx.x, r = t / 8, n = t % 8;
    if (t >= 128 * R || n >= N || row0 + r >= out_dim)
        return;
    float v = part[0][r][n];
#pragma unroll
    for (int i = 1; i < kMmaWarps; i++)
        v += part[i][r][n];
    if (F32)
        static_cast<float *>(out)[(size_t)n * ldo + row0 + r] = v;
    else
        static_cast<bf16 *>(out)[(size_t)n * ldo + row0 + r] = sl::to_bf(v);
}

/*
 * gemv_kernel for one row of x and long weight rows (Llama-3.1-8B's down
 * projection: 4096 rows of 28 KB). A matrix of few long rows gives the GPU
 * too few warps (4096: 31 an SM) to stream it at the rate of the same bytes
 * in more, shorter rows (docs/PERFORMANCE.md, 2026-11-29: 4096 x 14336 at
 * 3.4 TB/s, 16384 x 3584 at 3.7 TB/s). So each row is cut into kSplit parts
 * of columns, a warp each, and the parts' sums meet in shared memory, added
 * in order.
 *
 * out: [1, out_dim] float32 or bf16 (RES: bf16, added to); x: [1, in_dim]; w: [out_dim, in_dim],
 * in_dim % (8 kSplit) == 0; grid = ceil(out_dim / (kRowsPerBlock / kSplit))
 */
constexpr int kSplit = 4;
constexpr int kSplitMinCols = SL_CUDA_GEMV_SPLIT_MIN_COLS; /* rows this long are split */

template <bool F32, bool RES>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_split_kernel(void *out, const bf16 *x, const bf16 *w, int out_dim, int in_dim)
{
    constexpr int kRows = kRowsPerBlock / kSplit; /* rows a block */
    __shared__ float part[kRowsPerBlock];          /* [row][part] */
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRows + warp / kSplit, p = warp % kSplit;
    const int cols = in_dim / kSplit;
    const int r = blockIdx.x * kRows + (int)threadIdx.x; /* the row thread r < kRows stores */
    const bool stores = threadIdx.x < kRows && r < out_dim;
    const bf16 residual = stores ? residual_at<RES>(out, r) : bf16();
    float acc[1] = {0.0f};
    if (row < out_dim)
        row_sums<1, kUnroll>(acc, w + (size_t)row * in_dim + (size_t)p * cols,
                             x + (size_t)p * cols, 0, cols, lane);
    if (lane == 0)
        part[warp] = acc[0];
    __syncthreads();
    if (!stores)
        return;
    float v = part[threadIdx.x * kSplit];
#pragma unroll
    for (int i = 1; i < kSplit; i++)
        v += part[threadIdx.x * kSplit + i];
    store_row<F32, RES>(out, r, v, residual);
}

template <bool F32>
void launch_mma(int n, void *out, int64_t ldo, const bf16 *x, int64_t ldx, const bf16 *w,
                int out_dim, int in_dim, cudaStream_t stream)
{
    with_rows(n, [&](auto rows) {
        constexpr int N = decltype(rows)::value;
        const unsigned grid = sl::blocks_for(out_dim, 16 * mma_tiles<N>());
        (void)sl::launch(gemv_mma_kernel<N, F32>, grid, kMmaWarps * 32, 0, stream, out, ldo, x,
                         ldx, w, out_dim, in_dim);
    });
}

template <bool F32, int U>
void launch(int n, void *out, int64_t ldo, const bf16 *x, int64_t ldx, const bf16 *w,
            int out_dim, int in_dim, cudaStream_t stream)
{
    const unsigned grid = sl::blocks_for(out_dim, kRowsPerBlock);
    with_rows(n, [&](auto rows) {
        constexpr int N = decltype(rows)::value;
        constexpr auto kernel = gemv_kernel<N, F32, U, false>;
        (void)sl::launch(kernel, grid, kRowsPerBlock * 32,
                         N == 1 ? balanced_smem<kernel>(grid, 0) : 0, stream, out, ldo, x, ldx,
                         w, out_dim, in_dim);
    });
}

/* Whether the batch-1 product of rows of IN_DIM columns is cut into parts. */
bool split_rows(int in_dim)
{
    return in_dim >= kSplitMinCols && in_dim % (8 * kSplit) == 0;
}

template <bool F32, bool RES>
void launch_split(void *out, const bf16 *x, const bf16 *w, int out_dim, int in_dim,
                  cudaStream_t stream)
{
    const unsigned grid = sl::blocks_for(out_dim, kRowsPerBlock / kSplit);
    constexpr auto kernel = gemv_split_kernel<F32, RES>;
    (void)sl::launch(kernel, grid, kRowsPerBlock * 32, balanced_smem<kernel>(grid, 0), stream,
                     out, x, w, out_dim, in_dim);
}

} // namespace

const sl::gemv::SmLimits &sl::gemv::sm_limits()
{
    static const SmLimits limits = [] {
        SmLimits l = {0, 0, 0, 0};
        int device = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, device) !=
                cudaSuccess ||
            cudaDeviceGetAttribute(&l.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor,
                                   device) != cudaSuccess ||
            cudaDeviceGetAttribute(&l.reserved, cudaDevAttrReservedSharedMemoryPerBlock,
                                   device) != cudaSuccess ||
            cudaDeviceGetAttribute(&l.optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
                cudaSuccess) {
            (void)cudaGetLastError();
            l = SmLimits{0, 0, 0, 0};
        }
        return l;
    }();
    return limits;
}

extern "C" int sl_cuda_gemv_balanced_blocks(int64_t grid, int per_sm, int sms)
{
    const int64_t all = (int64_t)per_sm * sms;
    if (grid <= 0 || all <= 0)
        return 0;
    const int64_t waves = (grid + all - 1) / all;
    return (int)((grid + waves * sms - 1) / (waves * sms));
}

extern "C" size_t sl_cuda_gemv_balance_smem(int cap, int smem_per_sm, int reserved)
{
    /* 1 KB left for the kernel's static shared memory (less for every GEMV) */
    const int64_t pad = cap > 0 ? (int64_t)smem_per_sm / cap - reserved - 1024 : 0;
    return pad > 0 ? (size_t)pad : 0;
}

/* -1: not set; SLINFER_GEMV_BALANCE, where set, wins over the caller's. */
static std::atomic<int> balance{-1};

extern "C" void sl_cuda_gemv_set_balance(int on)
{
    const char *e = getenv("SLINFER_GEMV_BALANCE");
    balance.store(e != nullptr ? atoi(e) != 0 : on != 0, std::memory_order_relaxed);
}

bool sl::gemv::balance_on()
{
    return balance.load(std::memory_order_relaxed) > 0;
}

extern "C" int sl_cuda_gemv_mma_min_rows(void)
{
    /* SLINFER_GEMV_MMA_MIN_ROWS: from how many rows on the tensor-core kernel
     * runs (9: never), for comparisons. */
    static int min_rows = -1;
    if (min_rows < 0) {
        const char *e = getenv("SLINFER_GEMV_MMA_MIN_ROWS");
        const int v = e != nullptr ? atoi(e) : 2;
        min_rows = v < 1 ? 1 : v;
    }
    return min_rows;
}

extern "C" int sl_cuda_gemv_supported(int n, int in_dim, const void *x, int64_t ldx,
                                      const void *w)
{
    return n >= 1 && n <= SL_CUDA_GEMV_MAX_ROWS && in_dim % 8 == 0 && ldx % 8 == 0 &&
           sl::aligned16(x) && sl::aligned16(w);
}

extern "C" sl_status_t sl_cuda_gemv_bf16(void *out, int out_f32, int64_t ldo, const uint16_t *x,
                                         int64_t ldx, const uint16_t *w, int n, int out_dim,
                                         int in_dim, cudaStream_t stream)
{
    if (out == nullptr || out_dim <= 0 || in_dim <= 0 || ldo < out_dim || ldx < in_dim ||
        !sl_cuda_gemv_supported(n, in_dim, x, ldx, w)) {
        sl_error("sl_cuda_gemv_bf16: unsupported arguments (n=%d out_dim=%d in_dim=%d)", n,
                 out_dim, in_dim);
        return SL_ERR_INVALID_ARG;
    }
    const bf16 *xb = reinterpret_cast<const bf16 *>(x);
    const bf16 *wb = reinterpret_cast<const bf16 *>(w);
    /* SLINFER_GEMV_UNROLL=8: the deeper variant, for comparisons. */
    static int want8 = -1;
    if (want8 < 0) {
        const char *e = getenv("SLINFER_GEMV_UNROLL");
        want8 = e != nullptr && e[0] == '8';
    }
    const bool deep = want8 && in_dim >= 2048;
    if (n == 1 && split_rows(in_dim) && !want8) {
        if (out_f32)
            launch_split<true, false>(out, xb, wb, out_dim, in_dim, stream);
        else
            launch_split<false, false>(out, xb, wb, out_dim, in_dim, stream);
    } else if (n >= sl_cuda_gemv_mma_min_rows() && in_dim % 32 == 0) {
        if (out_f32)
            launch_mma<true>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
        else
            launch_mma<false>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    } else if (out_f32 && deep)
        launch<true, 8>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else if (out_f32)
        launch<true, kUnroll>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else if (deep)
        launch<false, 8>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else
        launch<false, kUnroll>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_bf16");
    return SL_OK;
}

extern "C" sl_status_t sl_cuda_gemv_residual_bf16(uint16_t *residual, const uint16_t *x,
                                                  const uint16_t *w, int out_dim, int in_dim,
                                                  cudaStream_t stream)
{
    if (residual == nullptr || out_dim <= 0 || in_dim <= 0 ||
        !sl_cuda_gemv_supported(1, in_dim, x, in_dim, w)) {
        sl_error("sl_cuda_gemv_residual_bf16: unsupported arguments (out_dim=%d in_dim=%d)",
                 out_dim, in_dim);
        return SL_ERR_INVALID_ARG;
    }
    const bf16 *xb = reinterpret_cast<const bf16 *>(x);
    const bf16 *wb = reinterpret_cast<const bf16 *>(w);
    if (split_rows(in_dim)) {
        launch_split<false, true>(residual, xb, wb, out_dim, in_dim, stream);
    } else {
        constexpr auto kernel = gemv_kernel<1, false, kUnroll, true>;
        const unsigned grid = sl::blocks_for(out_dim, kRowsPerBlock);
        (void)sl::launch(kernel, grid, kRowsPerBlock * 32, balanced_smem<kernel>(grid, 0), stream,
                         residual, (int64_t)out_dim, xb, (int64_t)in_dim, wb, out_dim, in_dim);
    }
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_residual_bf16");
    return SL_OK;
}
