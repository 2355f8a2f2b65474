/*
 * gemv.cuh - the one inner loop of the one-warp-per-row GEMV kernels,
 * shared by the plain product (gemv.cu) and the kernels that fuse the work
 * around it (gemv_fused.cu), so that their sums are bit-identical.
 *
 * A warp takes one output row: lanes read the weight row in 16-byte packets,
 * U packets in flight per lane, with the non-coherent, no-L1-allocate load
 * (W is read once; x, tiny, stays in L1 or shared memory), and multiply each
 * packet with the same columns of all N rows of x; a warp sum finishes each
 * dot product.
 */
#ifndef SL_GPU_GEMV_CUH
#define SL_GPU_GEMV_CUH

#include "sl_device.cuh"

#include <atomic>
#include <type_traits>

#include "sl_kernels.h"

namespace sl {
namespace gemv {

constexpr int kRowsPerBlock = 8; /* warps per block, one output row each */
constexpr int kUnroll = 4;       /* packets in flight per lane (8: slower, PERFORMANCE) */

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

/* The U packets p, p + 32, ... of weight row WR [packets] that exist. */
template <int U>
__device__ __forceinline__ void load_group(uint4 (&wv)[U], const uint4 *wr, int p, int packets)
{
#pragma unroll
    for (int u = 0; u < U; u++)
        if (p + 32 * u < packets)
            wv[u] = load_stream(wr + p + 32 * u);
}

/* load_group's packets asked into L2 without registers to hold them: for a
 * kernel whose prologue needs the registers (the GEMVs with the all-reduce
 * inside, gemv_fused.cu), so that its first loads hit L2. */
template <int U>
__device__ __forceinline__ void prefetch_group(const uint4 *wr, int p, int packets)
{
#pragma unroll
    for (int u = 0; u < U; u++)
        if (p + 32 * u < packets)
            asm volatile("prefetch.global.L2 [%0];" ::"l"(wr + p + 32 * u));
}

/* acc[n] += WV . x[n] at the group's packets. */
template <int N, int U>
__device__ __forceinline__ void dot_group(float (&acc)[N], const uint4 (&wv)[U], const bf16 *x,
                                          int64_t ldx, int p, int packets)
{
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (p + 32 * u < packets) {
#pragma unroll
            for (int n = 0; n < N; n++) {
                const uint4 xv = reinterpret_cast<const uint4 *>(x + (size_t)n * ldx)[p + 32 * u];
                acc[n] = dot8(wv[u], xv, acc[n]);
            }
        }
    }
}

/* acc[n] += row WR . x[n] over this lane's packets of the row, whose first
 * group WV (load_group at LANE) the caller issued already: so that a kernel
 * can have its first weights in flight while it prepares x. */
template <int N, int U>
__device__ __forceinline__ void row_dot_from(float (&acc)[N], uint4 (&wv)[U], const uint4 *wr,
                                             const bf16 *x, int64_t ldx, int packets, int lane)
{
    dot_group<N, U>(acc, wv, x, ldx, lane, packets);
    for (int p = lane + 32 * U; p < packets; p += 32 * U) {
        load_group<U>(wv, wr, p, packets);
        dot_group<N, U>(acc, wv, x, ldx, p, packets);
    }
}

/* acc[n] += row WR . x[n] over this lane's packets of the row: the same
 * loads and sums as row_dot_from, kept as one loop (fewer registers). */
template <int N, int U>
__device__ __forceinline__ void row_dot(float (&acc)[N], const uint4 *wr, const bf16 *x,
                                        int64_t ldx, int packets, int lane)
{
    for (int p = lane; p < packets; p += 32 * U) {
        uint4 wv[U];
        load_group<U>(wv, wr, p, packets);
        dot_group<N, U>(acc, wv, x, ldx, p, packets);
    }
}

/* row_dot_from where PRE (WV issued already), else row_dot (WV unused): one
 * call for the kernels whose builds differ in that alone. */
template <int N, int U, bool PRE>
__device__ __forceinline__ void row_dot_pre(float (&acc)[N], uint4 (&wv)[U], const uint4 *wr,
                                            const bf16 *x, int64_t ldx, int packets, int lane)
{
    if constexpr (PRE)
        row_dot_from<N, U>(acc, wv, wr, x, ldx, packets, lane);
    else
        row_dot<N, U>(acc, wr, x, ldx, packets, lane);
}

/* The warp sums of ACC, in every lane. */
template <int N> __device__ __forceinline__ void warp_sums(float (&acc)[N])
{
#pragma unroll
    for (int n = 0; n < N; n++)
        acc[n] = warp_sum(acc[n]);
}

/* v[n] = row W_ROW [in_dim] . x[n] for every n, in every lane of the warp:
 * what each one-warp-per-row kernel starts with. */
template <int N, int U>
__device__ __forceinline__ void row_sums(float (&v)[N], const bf16 *w_row, const bf16 *x,
                                         int64_t ldx, int in_dim, int lane)
{
#pragma unroll
    for (int n = 0; n < N; n++)
        v[n] = 0.0f;
    row_dot<N, U>(v, reinterpret_cast<const uint4 *>(w_row), x, ldx, in_dim / 8, lane);
    warp_sums<N>(v);
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

/* What the process's GPUs offer a block (one kind of GPU a process, as on a
 * node of a job), read once (gemv.cu); zeros where the runtime cannot say. */
struct SmLimits {
    int sms;          /* multiprocessors */
    int smem_per_sm;  /* shared memory an SM has */
    int reserved;     /* shared memory the runtime keeps per block */
    int optin;        /* the most a block may ask for */
};
const SmLimits &sm_limits();

/* sl::blocks_per_sm of KERNEL (kRowsPerBlock warps) with SMEM bytes, asked
 * once per kernel and size (one model's shapes a process); 0: unknown. */
template <auto Kernel> int blocks_per_sm(size_t smem)
{
    static std::atomic<uint64_t> cached{0}; /* smem << 32 | blocks */
    const uint64_t c = cached.load(std::memory_order_relaxed);
    if (c != 0 && (c >> 32) == smem)
        return (int)(c & 0xffffffffu);
    const int per_sm = sl::blocks_per_sm(Kernel, kRowsPerBlock * 32, smem);
    if (per_sm > 0)
        cached.store((uint64_t)smem << 32 | (uint32_t)per_sm, std::memory_order_relaxed);
    return per_sm;
}

/* The waves of GRID blocks of KERNEL with SMEM bytes (0: unknown). */
template <auto Kernel> long waves(unsigned grid, size_t smem)
{
    const long all = (long)blocks_per_sm<Kernel>(smem) * sm_limits().sms;
    return all > 0 ? ((long)grid + all - 1) / all : 0;
}

bool balance_on(); /* sl_cuda_gemv_set_balance, SLINFER_GEMV_BALANCE (gemv.cu) */

/*
 * Where the blocks of a batch-1 GEMV run (sl_cuda_gemv_set_balance). A GEMV
 * is a pass over its weights; how fast depends on every SM streaming to the
 * end, and a kernel launched while the one before drains (programmatic
 * dependent launch) has its first blocks placed on the SMs that free up
 * first, each filled up to the kernel's occupancy: a grid smaller than what
 * the GPU holds can leave SMs idle, and one a little larger ends in a short
 * last wave. Balanced, a GEMV of G blocks is launched in the fewest waves W
 * its occupancy allows, with at most ceil(G / (W * SMs)) blocks an SM, the
 * cap set through dynamic shared memory it does not use. Measured
 * (docs/PERFORMANCE.md, 2026-11-29 session 6): a gain on the smaller
 * matrices of a TP 2 rank (up to ~900 blocks), a loss on the TP 1 shapes.
 *
 * balanced_smem: the dynamic shared memory, at least SMEM, to launch
 * KERNEL's GRID blocks with: enough that no SM takes more than that share.
 */
template <auto Kernel> size_t balanced_smem(unsigned grid, size_t smem)
{
    if (!balance_on())
        return smem;
    const SmLimits &lim = sm_limits();
    const int per_sm = blocks_per_sm<Kernel>(smem);
    const int cap = sl_cuda_gemv_balanced_blocks(grid, per_sm, lim.sms);
    if (cap <= 0 || cap >= per_sm)
        return smem;
    const size_t pad = sl_cuda_gemv_balance_smem(cap, lim.smem_per_sm, lim.reserved);
    if (pad <= smem || pad > (size_t)lim.optin)
        return smem;
    /* past the default: set for the current device each time (a cheap host
     * call; a rank's thread may be the first on its GPU to launch KERNEL) */
    if (pad > 48 * 1024 &&
        cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)pad) !=
            cudaSuccess) {
        (void)cudaGetLastError();
        return smem;
    }
    return pad;
}

} // namespace gemv
} // namespace sl

#endif /* SL_GPU_GEMV_CUH */
