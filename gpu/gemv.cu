/*
 * gemv.cu - out = x . W^T for a few rows of x (decode), bf16 weights in
 * HuggingFace's [out, in] layout, float32 accumulation.
 *
 * Twin of sl_cpu_matmul (src/backend/cpu/matmul.c) without bias. At decode
 * batch sizes the product is a pass over W: the kernel must stream W at the
 * HBM rate, which cuBLAS does not reach for these shapes (about half of it,
 * DESIGN-NOTES.md). Two kernels:
 *
 * - one row of x (gemv_kernel): one warp per output row; lanes read the row
 *   in 16-byte packets, U = 4 packets in flight per lane (8 measured slower
 *   on an H200: docs/PERFORMANCE.md, 2026-11-28; SLINFER_GEMV_UNROLL=8
 *   selects it), with the non-coherent, no-L1-allocate load (W is read once;
 *   x, tiny, stays in L1); each packet is multiplied with the same columns
 *   of all N rows of x; a warp sum finishes each dot product. Its per-row
 *   epilogue is where the decode fusions live: silu(gate) * up
 *   (gemv_silu_kernel), RoPE and the KV store (gemv_rope_kernel), the push
 *   into the all-reduce's slots (gemv_push_kernel), each one kernel fewer
 *   per layer. Long rows (8192 columns and more) are cut into 4 parts, a warp
 *   each (gemv_split_kernel): more warps to stream them.
 * - 2..8 rows (gemv_mma_kernel): the same stream of weights into m16n8k16
 *   tensor-core MMAs, x rows as the MMA's 8 columns, as many x bytes as the
 *   weights' N / 16 (the one-warp-per-row kernel reads N times the weights'
 *   bytes of x from L1 and falls behind cuBLAS from N = 2 on).
 */
#include "config.h"

#include <stdlib.h>

#include <type_traits>

#include "ar_slots.cuh"
#include "rope.cuh"
#include "sl_device.cuh"

#include "sl_kernels.h"

namespace {

using sl::bf16;

constexpr int kRowsPerBlock = 8; /* warps per block, one output row each */

__device__ __forceinline__ uint4 load_stream(const uint4 *p)
{
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

__device__ __forceinline__ float lo_f(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi_f(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

__device__ __forceinline__ float dot8(const uint4 &a, const uint4 &b, float acc)
{
    acc = fmaf(lo_f(a.x), lo_f(b.x), acc);
    acc = fmaf(hi_f(a.x), hi_f(b.x), acc);
    acc = fmaf(lo_f(a.y), lo_f(b.y), acc);
    acc = fmaf(hi_f(a.y), hi_f(b.y), acc);
    acc = fmaf(lo_f(a.z), lo_f(b.z), acc);
    acc = fmaf(hi_f(a.z), hi_f(b.z), acc);
    acc = fmaf(lo_f(a.w), lo_f(b.w), acc);
    acc = fmaf(hi_f(a.w), hi_f(b.w), acc);
    return acc;
}

/* acc[n] += row WR . x[n] over this lane's packets of the row: U packets
 * in flight, each multiplied with the same columns of all N rows of x. The
 * one inner loop of the one-warp-per-row kernels, so their sums are
 * bit-identical. */
template <int N, int U>
__device__ __forceinline__ void row_dot(float (&acc)[N], const uint4 *wr, const bf16 *x,
                                        int64_t ldx, int packets, int lane)
{
    for (int p = lane; p < packets; p += 32 * U) {
        uint4 wv[U];
#pragma unroll
        for (int u = 0; u < U; u++)
            if (p + 32 * u < packets)
                wv[u] = load_stream(wr + p + 32 * u);
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (p + 32 * u < packets) {
#pragma unroll
                for (int n = 0; n < N; n++) {
                    const uint4 xv =
                        reinterpret_cast<const uint4 *>(x + (size_t)n * ldx)[p + 32 * u];
                    acc[n] = dot8(wv[u], xv, acc[n]);
                }
            }
        }
    }
}

/* v[n] = row W_ROW [in_dim] . x[n] for every n, in every lane of the warp:
 * row_dot, then the warp sums; what each of those kernels starts with. */
template <int N, int U>
__device__ __forceinline__ void row_sums(float (&v)[N], const bf16 *w_row, const bf16 *x,
                                         int64_t ldx, int in_dim, int lane)
{
#pragma unroll
    for (int n = 0; n < N; n++)
        v[n] = 0.0f;
    row_dot<N, U>(v, reinterpret_cast<const uint4 *>(w_row), x, ldx, in_dim / 8, lane);
#pragma unroll
    for (int n = 0; n < N; n++)
        v[n] = sl::warp_sum(v[n]);
}

/*
 * out: [N, ldo] float32 or bf16, columns [0, out_dim) written
 * x:   [N, ldx] bf16, columns [0, in_dim) read
 * w:   [out_dim, in_dim] bf16
 */
template <int N, bool F32, int U>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_kernel(void *out, int64_t ldo, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim,
            int in_dim)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRowsPerBlock + warp;
    if (row >= out_dim)
        return; /* no block-wide synchronisation follows */
    float acc[N];
    row_sums<N, U>(acc, w + (size_t)row * in_dim, x, ldx, in_dim, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        const float v = acc[n];
        if (lane == n % 32) {
            if (F32)
                static_cast<float *>(out)[(size_t)n * ldo + row] = v;
            else
                static_cast<bf16 *>(out)[(size_t)n * ldo + row] = sl::to_bf(v);
        }
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
 * out: [1, out_dim] float32 or bf16; x: [1, in_dim]; w: [out_dim, in_dim],
 * in_dim % (8 kSplit) == 0; grid = ceil(out_dim / (kRowsPerBlock / kSplit))
 */
constexpr int kSplit = 4;
constexpr int kSplitMinCols = 8192; /* rows this long and longer are split */

template <bool F32>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_split_kernel(void *out, const bf16 *x, const bf16 *w, int out_dim, int in_dim)
{
    constexpr int kRows = kRowsPerBlock / kSplit; /* rows a block */
    __shared__ float part[kRowsPerBlock];          /* [row][part] */
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRows + warp / kSplit, p = warp % kSplit;
    const int cols = in_dim / kSplit;
    float acc[1] = {0.0f};
    if (row < out_dim)
        row_sums<1, 4>(acc, w + (size_t)row * in_dim + (size_t)p * cols, x + (size_t)p * cols,
                       0, cols, lane);
    if (lane == 0)
        part[warp] = acc[0];
    __syncthreads();
    const int r = blockIdx.x * kRows + (int)threadIdx.x;
    if (threadIdx.x >= kRows || r >= out_dim)
        return;
    float v = part[threadIdx.x * kSplit];
#pragma unroll
    for (int i = 1; i < kSplit; i++)
        v += part[threadIdx.x * kSplit + i];
    if (F32)
        static_cast<float *>(out)[r] = v;
    else
        static_cast<bf16 *>(out)[r] = sl::to_bf(v);
}

/*
 * SwiGLU's first half at decode: act = silu(x . Wg^T) * (x . Wu^T) in one
 * pass, where the unfused path writes [N, 2 inter] gate/up values and reads
 * them back in another kernel. Warp i computes rows i (gate) and inter + i
 * (up) of w_gu with the same loop as gemv_kernel and rounds each to bf16
 * before silu, as the stored values would be: bit-identical to
 * sl_cuda_gemv_bf16 + sl_cuda_silu_mul_bf16.
 *
 * act:  [N, lda] bf16, columns [0, inter) written
 * x:    [N, ldx] bf16
 * w_gu: [2 inter, in_dim] bf16, gate rows then up rows
 */
template <int N, int U>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_silu_kernel(bf16 *act, int64_t lda, const bf16 *x, int64_t ldx, const bf16 *w_gu,
                 int inter, int in_dim)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRowsPerBlock + warp;
    if (row >= inter)
        return; /* no block-wide synchronisation follows */
    float g[N], u[N];
#pragma unroll
    for (int n = 0; n < N; n++)
        g[n] = u[n] = 0.0f;
    row_dot<N, U>(g, reinterpret_cast<const uint4 *>(w_gu + (size_t)row * in_dim), x, ldx,
                  in_dim / 8, lane);
    row_dot<N, U>(u, reinterpret_cast<const uint4 *>(w_gu + (size_t)(inter + row) * in_dim), x,
                  ldx, in_dim / 8, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        const float gv = sl::to_f(sl::to_bf(sl::warp_sum(g[n])));
        const float uv = sl::to_f(sl::to_bf(sl::warp_sum(u[n])));
        if (lane == n % 32)
            act[(size_t)n * lda + row] = sl::to_bf(sl::silu(gv) * uv);
    }
}

/*
 * gemv_kernel's bf16 product that also pushes it to the peers of a one-shot
 * all-reduce (sl_cuda_gemv_push_bf16): a block's kRowsPerBlock rows of token
 * n are one 16-byte packet of the all-reduce's input [N, out_dim], packet
 * n * out_dim / 8 + blockIdx.x; once the block's warps have their sums,
 * thread t < N * (nranks - 1) stores token t % N's packet into this rank's
 * slot of the call's parity on peer 1 + t / N ranks further (the order of
 * allreduce.cu's pushes), Lamport-safe as allreduce.cu's own pushes.
 * The epoch is read after pdl_wait(): the all-reduce before this one has then
 * completed and advanced it, and no all-reduce kernel runs until this one
 * ends. Why the push never overwrites a packet a peer has not read yet is
 * allreduce.cu's argument for its own pushes: this kernel, too, starts after
 * this rank's previous all-reduce kernel has finished.
 *
 * out: [N, out_dim] bf16, out_dim % kRowsPerBlock == 0 (every warp has a row)
 */
template <int N, int U>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_push_kernel(bf16 *out, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim, int in_dim,
                 sl_cuda_ar_push_t push)
{
    namespace ar = sl::ar;
    static_assert(kRowsPerBlock == ar::kPacket, "a block's rows are one packet per token");
    __shared__ sl::Bf16x8 packet[N]; /* [N] this block's rows of each token */
    __shared__ int parity;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int row = blockIdx.x * kRowsPerBlock + warp;
    const int t = threadIdx.x;
    sl::pdl_wait(); /* first: see sl::launch */
    if (t == 0) /* read while the rows load; seen after the barrier below */
        parity = (int)(ar::next_epoch(ar::select<ar::kMaxRanks>(push.base, push.rank)) & 1);
    float acc[N];
    row_sums<N, U>(acc, w + (size_t)row * in_dim, x, ldx, in_dim, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        const bf16 v = sl::to_bf(acc[n]);
        if (lane == n % 32) {
            out[(size_t)n * out_dim + row] = v;
            packet[n].v[warp] = v;
        }
    }
    __syncthreads();
    if (t < N * (push.nranks - 1)) {
        const int n = t % N;
        const int peer = (push.rank + 1 + t / N) % push.nranks;
        const int64_t p = (int64_t)n * (out_dim / ar::kPacket) + blockIdx.x;
        ar::slot(ar::select<ar::kMaxRanks>(push.base, peer), parity, push.rank, push.nranks,
                 push.slot_packets)[p] = ar::lamport_safe(packet[n]);
    }
}

/* The operands of the RoPE/KV store fused into the QKV GEMV. */
struct RopeStore {
    const float *bias;                  /* [units * head_dim], or nullptr */
    const float *cos_table, *sin_table; /* [max_position, head_dim / 2] */
    const int32_t *positions;           /* [N] */
    const int64_t *slots;               /* [N] cache slot of each token */
    bf16 *k_cache, *v_cache;            /* [slots, kv_heads, head_dim] */
    int heads, kv_heads, head_dim;
};

/*
 * The QKV projection at decode with rope_kv.cu's work after it (no q/k
 * norm), one kernel fewer per layer: x . W_qkv^T rounded to bf16 as
 * gemv_kernel stores it, then the bias, RoPE on q and k, and the store of k
 * and v into their cache slots, by rope.cuh's arithmetic: the same bits as
 * sl_cuda_gemv_bf16 + sl_cuda_qkv_rope_store_bf16 (without q/k norm).
 * A block's 8 warps take 8 rows of one head (unit u of q heads, k heads, v
 * heads; head_dim / 8 blocks per unit): for q and k, the 4 rotation pairs
 * (i, i + half), i = 4g .. 4g + 3 (warps 0-3 the first elements, 4-7 their
 * partners), so a pair's two sums meet in shared memory; for v, 8 consecutive
 * elements. Once every warp has its sums, 4 (8 for v) threads per token
 * finish the pairs (elements).
 *
 * qkv: [N, units * head_dim] bf16: q columns written (rotated); k and v
 *      columns not written (attention reads them from the cache)
 * w:   [units * head_dim, in_dim]; grid = units * head_dim / 8
 */
template <int N, int U>
__global__ void __launch_bounds__(kRowsPerBlock * 32)
gemv_rope_kernel(bf16 *qkv, const bf16 *x, int64_t ldx, const bf16 *w, int in_dim,
                 RopeStore rs)
{
    static_assert(kRowsPerBlock == 8, "4 pairs, or 8 v elements, per block");
    __shared__ bf16 vals[N][kRowsPerBlock]; /* [N][8] the block's rows of each token */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = threadIdx.x;
    const int hd = rs.head_dim, half = hd / 2, per_unit = hd / kRowsPerBlock;
    const int u = blockIdx.x / per_unit, g = blockIdx.x % per_unit;
    const bool rotated = u < rs.heads + rs.kv_heads;
    const int i = rotated ? 4 * g + (warp & 3) + (warp >= 4 ? half : 0) : 8 * g + warp;
    const int row = u * hd + i;
    sl::pdl_wait(); /* first: see sl::launch */
    float acc[N];
    row_sums<N, U>(acc, w + (size_t)row * in_dim, x, ldx, in_dim, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        if (lane == n % 32)
            vals[n][warp] = sl::to_bf(acc[n]);
    }
    __syncthreads();

    const int col0 = u * hd;
    const float *b = rs.bias != nullptr ? rs.bias + col0 : nullptr; /* [hd] this unit's */
    if (rotated) {
        if (t >= N * 4)
            return;
        const int n = t / 4, j = t % 4, e = 4 * g + j;
        float a = sl::to_f(vals[n][j]), c = sl::to_f(vals[n][j + 4]);
        if (b != nullptr) {
            a += b[e];
            c += b[e + half];
        }
        const size_t at = (size_t)rs.positions[n] * half + e;
        const size_t ld = (size_t)(rs.heads + 2 * rs.kv_heads) * hd;
        bf16 *dst = u < rs.heads /* [hd] the head's q, or its k in the cache */
                        ? qkv + (size_t)n * ld + col0
                        : rs.k_cache + ((size_t)rs.slots[n] * rs.kv_heads + (u - rs.heads)) * hd;
        sl::rope::rotate(a, c, rs.cos_table[at], rs.sin_table[at], dst[e], dst[e + half]);
    } else if (t < N * 8) {
        const int n = t / 8, j = t % 8, e = 8 * g + j;
        const int kh = u - rs.heads - rs.kv_heads;
        rs.v_cache[((size_t)rs.slots[n] * rs.kv_heads + kh) * hd + e] =
            sl::rope::v_value(vals[n][j], b, e);
    }
}

/* F(std::integral_constant<int, n>) for the row count n, 1..SL_CUDA_GEMV_MAX_ROWS (one
 * kernel instance per count); nothing for other counts, which the callers refuse. */
template <int NV = 1, class F> void with_rows(int n, F &&f)
{
    if constexpr (NV <= SL_CUDA_GEMV_MAX_ROWS) {
        if (n == NV)
            f(std::integral_constant<int, NV>{});
        else
            with_rows<NV + 1>(n, f);
    }
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
        (void)sl::launch(gemv_kernel<decltype(rows)::value, F32, U>, grid, kRowsPerBlock * 32,
                         0, stream, out, ldo, x, ldx, w, out_dim, in_dim);
    });
}

void launch_push(int n, bf16 *out, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim,
                 int in_dim, const sl_cuda_ar_push_t &push, cudaStream_t stream)
{
    const unsigned grid = (unsigned)(out_dim / kRowsPerBlock);
    with_rows(n, [&](auto rows) {
        (void)sl::launch(gemv_push_kernel<decltype(rows)::value, 4>, grid, kRowsPerBlock * 32, 0,
                         stream, out, x, ldx, w, out_dim, in_dim, push);
    });
}

void launch_rope(int n, bf16 *qkv, const bf16 *x, int64_t ldx, const bf16 *w, int in_dim,
                 const RopeStore &rs, cudaStream_t stream)
{
    const unsigned grid = (unsigned)((rs.heads + 2 * rs.kv_heads) * (rs.head_dim / kRowsPerBlock));
    with_rows(n, [&](auto rows) {
        (void)sl::launch(gemv_rope_kernel<decltype(rows)::value, 4>, grid, kRowsPerBlock * 32, 0,
                         stream, qkv, x, ldx, w, in_dim, rs);
    });
}

void launch_silu(int n, bf16 *act, int64_t lda, const bf16 *x, int64_t ldx, const bf16 *w_gu,
                 int inter, int in_dim, cudaStream_t stream)
{
    const unsigned grid = sl::blocks_for(inter, kRowsPerBlock);
    with_rows(n, [&](auto rows) {
        (void)sl::launch(gemv_silu_kernel<decltype(rows)::value, 4>, grid, kRowsPerBlock * 32,
                         0, stream, act, lda, x, ldx, w_gu, inter, in_dim);
    });
}

} // namespace

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
    if (n == 1 && in_dim >= kSplitMinCols && in_dim % (8 * kSplit) == 0 && !want8) {
        const unsigned grid = sl::blocks_for(out_dim, kRowsPerBlock / kSplit);
        if (out_f32)
            (void)sl::launch(gemv_split_kernel<true>, grid, kRowsPerBlock * 32, 0, stream, out,
                             xb, wb, out_dim, in_dim);
        else
            (void)sl::launch(gemv_split_kernel<false>, grid, kRowsPerBlock * 32, 0, stream, out,
                             xb, wb, out_dim, in_dim);
    } else if (n >= sl_cuda_gemv_mma_min_rows() && in_dim % 32 == 0) {
        if (out_f32)
            launch_mma<true>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
        else
            launch_mma<false>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    } else if (out_f32 && deep)
        launch<true, 8>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else if (out_f32)
        launch<true, 4>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else if (deep)
        launch<false, 8>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    else
        launch<false, 4>(n, out, ldo, xb, ldx, wb, out_dim, in_dim, stream);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_bf16");
    return SL_OK;
}

extern "C" sl_status_t sl_cuda_gemv_silu_bf16(uint16_t *act, int64_t lda, const uint16_t *x,
                                              int64_t ldx, const uint16_t *w_gu, int n,
                                              int inter, int in_dim, cudaStream_t stream)
{
    if (act == nullptr || inter <= 0 || in_dim <= 0 || lda < inter || ldx < in_dim ||
        !sl_cuda_gemv_supported(n, in_dim, x, ldx, w_gu)) {
        sl_error("sl_cuda_gemv_silu_bf16: unsupported arguments (n=%d inter=%d in_dim=%d)", n,
                 inter, in_dim);
        return SL_ERR_INVALID_ARG;
    }
    launch_silu(n, reinterpret_cast<bf16 *>(act), lda, reinterpret_cast<const bf16 *>(x), ldx,
                reinterpret_cast<const bf16 *>(w_gu), inter, in_dim, stream);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_silu_bf16");
    return SL_OK;
}

extern "C" int sl_cuda_gemv_push_supported(int n, int out_dim, int in_dim, const void *x,
                                           int64_t ldx, const void *w, const void *out)
{
    return sl_cuda_gemv_supported(n, in_dim, x, ldx, w) && out_dim > 0 &&
           out_dim % kRowsPerBlock == 0 && out != nullptr && sl::aligned16(out);
}

extern "C" sl_status_t sl_cuda_gemv_push_bf16(uint16_t *out, const uint16_t *x, int64_t ldx,
                                              const uint16_t *w, int n, int out_dim, int in_dim,
                                              const sl_cuda_ar_push_t *push, cudaStream_t stream)
{
    if (!sl_cuda_gemv_push_supported(n, out_dim, in_dim, x, ldx, w, out) || push == nullptr ||
        push->nranks < 2 || push->nranks > SL_CUDA_AR_MAX_RANKS || push->rank < 0 ||
        push->rank >= push->nranks ||
        (int64_t)n * out_dim > push->slot_packets * sl::ar::kPacket) {
        sl_error("sl_cuda_gemv_push_bf16: unsupported arguments (n=%d out_dim=%d in_dim=%d; "
                 "out_dim a multiple of %d, the all-reduce group's slots large enough)",
                 n, out_dim, in_dim, kRowsPerBlock);
        return SL_ERR_INVALID_ARG;
    }
    launch_push(n, reinterpret_cast<bf16 *>(out), reinterpret_cast<const bf16 *>(x), ldx,
                reinterpret_cast<const bf16 *>(w), out_dim, in_dim, *push, stream);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_push_bf16");
    return SL_OK;
}

extern "C" int sl_cuda_gemv_rope_supported(int n, int in_dim, const void *x, int64_t ldx,
                                           const void *w, int head_dim)
{
    return sl_cuda_gemv_supported(n, in_dim, x, ldx, w) && head_dim > 0 &&
           head_dim % (2 * kRowsPerBlock) == 0;
}

extern "C" sl_status_t sl_cuda_gemv_rope_store_bf16(
    uint16_t *qkv, const uint16_t *x, int64_t ldx, const uint16_t *w_qkv, const float *bias,
    int n, int in_dim, const float *cos_table, const float *sin_table, const int32_t *positions,
    const int64_t *slots, int heads, int kv_heads, int head_dim, uint16_t *k_cache,
    uint16_t *v_cache, cudaStream_t stream)
{
    if (qkv == nullptr || heads <= 0 || kv_heads <= 0 || in_dim <= 0 ||
        !sl_cuda_gemv_rope_supported(n, in_dim, x, ldx, w_qkv, head_dim) ||
        cos_table == nullptr || sin_table == nullptr || positions == nullptr ||
        slots == nullptr || k_cache == nullptr || v_cache == nullptr) {
        sl_error("sl_cuda_gemv_rope_store_bf16: unsupported arguments (n=%d in_dim=%d heads=%d "
                 "kv_heads=%d head_dim=%d; head_dim a multiple of %d)",
                 n, in_dim, heads, kv_heads, head_dim, 2 * kRowsPerBlock);
        return SL_ERR_INVALID_ARG;
    }
    RopeStore rs;
    rs.bias = bias;
    rs.cos_table = cos_table;
    rs.sin_table = sin_table;
    rs.positions = positions;
    rs.slots = slots;
    rs.k_cache = reinterpret_cast<bf16 *>(k_cache);
    rs.v_cache = reinterpret_cast<bf16 *>(v_cache);
    rs.heads = heads;
    rs.kv_heads = kv_heads;
    rs.head_dim = head_dim;
    launch_rope(n, reinterpret_cast<bf16 *>(qkv), reinterpret_cast<const bf16 *>(x), ldx,
                reinterpret_cast<const bf16 *>(w_qkv), in_dim, rs, stream);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_rope_store_bf16");
    return SL_OK;
}
