/*
 * gemv_fused.cu - the batch-1 GEMVs that take the work around them into
 * their kernel, one kernel fewer per layer each, bit-identical to the
 * sequence they replace: gemv.cuh's loop (the same sums as gemv.cu's
 * one-warp-per-row product) with
 *
 * - before it, the RMSNorm of the residual stream (gate/up and QKV at TP 1,
 *   where no all-reduce comes between the projection before and the norm):
 *   every block normalises the row into shared memory itself
 *   (rms::norm_row_into) while its first weight loads are in flight, where
 *   a norm kernel of one block would run alone on one SM between two GEMVs;
 *   at TP > 1 (G), the all-reduce before the norm as well: every block sums
 *   the peers' packets of the row, which the projection before pushed into
 *   its static set (sl_cuda_ar_set_gather), with its own part and the
 *   residual first (gather_row), where an all-reduce kernel would;
 * - after it, per row: silu(gate) * up (gemv_silu_kernel); RoPE and the
 *   K/V cache store (gemv_rope_kernel); the push of the rows into the
 *   all-reduce's slots on the peers (gemv_push_kernel).
 */
#include "config.h"

#include "ar_slots.cuh"
#include "gemv.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "sl_device.cuh"

#include "sl_kernels.h"

namespace {

using sl::bf16;
using namespace sl::gemv;

/* Dynamic shared memory a block may take without opting in: the normalised
 * row, 2 in_dim bytes. */
constexpr size_t kGemvNormMaxSmem = 48 * 1024;

/* Threads each thread of a block stands for in the norm before the GEMV
 * (NV of the fused kernels; 0: no norm): rmsnorm.cu's block for in_dim, up to
 * 1024 threads, emulated by kRowsPerBlock warps. */
inline int norm_v(int in_dim)
{
    return sl::rms::threads_for(in_dim / 8) <= 2 * kRowsPerBlock * 32 ? 2 : 4;
}

/* The two builds of a kernel with the norm (LEAN of the fused kernels): lean,
 * at most 40 registers, as many blocks an SM as the plain GEMV (6); or wide,
 * the norm's first packets held in registers (one round trip to L2 fewer),
 * ~64 registers, 4 blocks an SM. */
constexpr int kLeanBlocks = 6;
/* The builds with the all-reduce (G), picked like the norm's by waves
 * (launch_norm_build): lean, 4 blocks an SM (64 registers), its first
 * weights asked into L2 only; wide, 3 blocks an SM (80 registers), its first
 * weights in flight in registers. Both read the norm weight after the sum
 * (held with the row, it made ptxas spill: PERFORMANCE session 7). */
constexpr int kGatherLeanBlocks = 4, kGatherWideBlocks = 3;

/* gate/up + SiLU with the all-reduce takes rows of up to 4096 in blocks of
 * kWideWarps warps, 2 an SM: one packet of the row a thread, so that both the
 * gather's reads and the first weight loads fit in 64 registers (a TP 2
 * rank's step 2.523 ms against 2.589 with the 8-warp builds: PERFORMANCE
 * session 7, call P). The RoPE kernel's blocks are 8 rows by construction. */
constexpr int kWideWarps = 16, kWideWarpBlocks = 2;

/* __launch_bounds__'s blocks an SM for a fused kernel's build of W warps. */
constexpr int min_blocks(int nv, bool lean, bool g, int w = kRowsPerBlock)
{
    return w != kRowsPerBlock ? kWideWarpBlocks
           : g                ? (lean ? kGatherLeanBlocks : kGatherWideBlocks)
           : nv != 0 && lean  ? kLeanBlocks
                              : 1;
}

/* Whether a build holds its first weight loads in registers through the
 * prologue (else the lean 8-warp gather build asks for them into L2). */
__host__ __device__ constexpr bool early_loads(int nv, bool lean, bool g, int w = kRowsPerBlock)
{
    return nv != 0 && !(g && lean && w == kRowsPerBlock);
}

/* A kernel's first group of weight row WR, before it prepares x: in flight
 * in WV where EARLY (early_loads), else, for a gather build (G), asked into
 * L2 (the gather needs the registers). */
template <int U, bool EARLY, bool G>
__device__ __forceinline__ void first_weights(uint4 (&wv)[U], const uint4 *wr, int lane,
                                              int packets)
{
    if constexpr (EARLY)
        load_group<U>(wv, wr, lane, packets);
    else if constexpr (G)
        prefetch_group<U>(wr, lane, packets);
}

/* The grid empties the peers' slots of the set two calls ahead (sl_kernels.h:
 * why that one), a packet a thread. */
__device__ __forceinline__ void empty_set_ahead(const sl_cuda_ar_gather_t &g)
{
    uint4 *clear = reinterpret_cast<uint4 *>(g.clear); /* [nranks][stride] */
    const int64_t all = (int64_t)g.nranks * g.packets;
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < all;
         q += (int64_t)gridDim.x * blockDim.x) {
        const int k = (int)(q / g.packets);
        if (k != g.rank)
            clear[k * g.stride + q % g.packets] = make_uint4(~0u, ~0u, ~0u, ~0u);
    }
}

/* The peer whose slot the gathers read ahead (a group of one: its own). */
__device__ __forceinline__ int first_peer(const sl_cuda_ar_gather_t &g)
{
    return g.rank == 0 && g.nranks > 1 ? 1 : 0;
}

/*
 * Packet P of the residual stream after the all-reduce: RES + the ranks'
 * packets of M.partial summed in rank order (+ M.bias), with allreduce.cu's
 * roundings (sl::ar::residual_sum). This rank's own packet OWN is taken as
 * the peers got it (Lamport-safe), so every rank sums the same bits; a
 * peer's is waited for in this rank's set (M.gather), where the projection
 * before pushed it; SEEN: first_peer's slot, read already by the caller.
 */
__device__ __forceinline__ sl::Bf16x8 gathered_packet(const sl_cuda_gemv_norm_t &m, int64_t p,
                                                      const sl::Bf16x8 &own,
                                                      const sl::Bf16x8 &res, uint4 seen)
{
    namespace ar = sl::ar;
    const sl_cuda_ar_gather_t &g = m.gather;
    const sl::Bf16x8 *slots = reinterpret_cast<const sl::Bf16x8 *>(g.slots) + p; /* [nranks] */
    const sl::Bf16x8 mine = ar::lamport_safe(own);
    const int ahead = first_peer(g);
    float acc[ar::kPacket];

    for (int k = 0; k < g.nranks; k++) {
        const sl::Bf16x8 *slot = slots + k * g.stride;
        const auto keep = [&](uint64_t *t0) {
            return ar::keep_waiting(t0, g.abort, g.error, g.timeout_ns, g.rank, k);
        };
        const sl::Bf16x8 v =
            k == g.rank ? mine : ar::wait_pushed(slot, k == ahead ? seen : ar::ld_cg_v4(slot), keep);
#pragma unroll
        for (int j = 0; j < ar::kPacket; j++)
            acc[j] = k == 0 ? sl::to_f(v.v[j]) : acc[j] + sl::to_f(v.v[j]);
    }
    sl::Bf16x8 x, z;
    ar::residual_sum(acc, m.bias != nullptr ? m.bias + p * ar::kPacket : nullptr, res, x, z);
    return z;
}

/*
 * z [dim] (shared memory) = the residual stream after the all-reduce
 * (gathered_packet of RESIDUAL [dim]) for the packets this thread takes in
 * rms::norm_row_into<NV> (so that it reads them back without a barrier);
 * block 0 also stores them into M.residual_out. First, the grid empties the
 * set two calls ahead. Any row length; gather_norm_row is the faster path
 * for rows of up to 4096.
 */
template <int NV>
__device__ __forceinline__ void gather_row(bf16 *z_out, const bf16 *residual, int dim,
                                           const sl_cuda_gemv_norm_t &m)
{
    namespace ar = sl::ar;
    const sl_cuda_ar_gather_t &g = m.gather;
    const int npackets = dim / 8, threads = sl::rms::threads_for(npackets);
    const sl::Bf16x8 *own = reinterpret_cast<const sl::Bf16x8 *>(m.partial); /* [npackets] */
    const sl::Bf16x8 *res = reinterpret_cast<const sl::Bf16x8 *>(residual);  /* [npackets] */
    const sl::Bf16x8 *ahead = reinterpret_cast<const sl::Bf16x8 *>(g.slots) +
                              first_peer(g) * g.stride; /* [npackets] */
    sl::Bf16x8 *z = reinterpret_cast<sl::Bf16x8 *>(z_out); /* [npackets] */
    sl::Bf16x8 *keep = blockIdx.x == 0 ? reinterpret_cast<sl::Bf16x8 *>(m.residual_out) : nullptr;

    empty_set_ahead(g);
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        for (int p = u; p < npackets; p += threads) {
            const sl::Bf16x8 zv = gathered_packet(m, p, own[p], res[p], ar::ld_cg_v4(ahead + p));
            z[p] = zv;
            if (keep != nullptr)
                keep[p] = zv;
        }
    }
}

/*
 * gather_row and rms::norm_row_into<NV> in one pass, for rows of at most
 * 4096 elements (NV <= 2: one packet a thread): every read of a thread's
 * packets -- its own part, the residual, the first peer's slot -- in flight
 * at once, so one round trip to L2 before the sum of squares where the two
 * steps take two (three with the weight); z stays in registers for the
 * scaling, the weight is read after the sum (held too, it made ptxas spill
 * 70 bytes: 41.2 us against 36.6 for gate/up at TP 2, PERFORMANCE session 7).
 * The same arithmetic in the same order as the two (rms:: helpers,
 * block_sum over the same emulated block): the same bits. xn is complete for
 * every thread on return.
 */
template <int NV>
__device__ __forceinline__ void gather_norm_row(bf16 *xn_out, const bf16 *residual, int dim,
                                                const sl_cuda_gemv_norm_t &m)
{
    namespace ar = sl::ar;
    namespace rms = sl::rms;
    static_assert(NV <= 2, "one packet a thread: rows of at most 4096");
    const sl_cuda_ar_gather_t &g = m.gather;
    const int npackets = dim / 8, threads = rms::threads_for(npackets);
    const sl::Bf16x8 *own = reinterpret_cast<const sl::Bf16x8 *>(m.partial); /* [npackets] */
    const sl::Bf16x8 *res = reinterpret_cast<const sl::Bf16x8 *>(residual);  /* [npackets] */
    const sl::Bf16x8 *wp = reinterpret_cast<const sl::Bf16x8 *>(m.weight);   /* [npackets] */
    const sl::Bf16x8 *ahead = reinterpret_cast<const sl::Bf16x8 *>(g.slots) +
                              first_peer(g) * g.stride; /* [npackets] */
    sl::Bf16x8 *xn = reinterpret_cast<sl::Bf16x8 *>(xn_out); /* [npackets] */
    sl::Bf16x8 *keep = blockIdx.x == 0 ? reinterpret_cast<sl::Bf16x8 *>(m.residual_out) : nullptr;
    sl::Bf16x8 own0[NV], res0[NV], z0[NV];
    uint4 seen[NV];
    float sum_sq[NV];

#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        if (u < npackets) {
            own0[i] = own[u];
            res0[i] = res[u];
            seen[i] = ar::ld_cg_v4(ahead + u);
        }
    }
    empty_set_ahead(g);
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        sum_sq[i] = 0.0f;
        if (u < npackets) {
            z0[i] = gathered_packet(m, u, own0[i], res0[i], seen[i]);
            if (keep != nullptr)
                keep[u] = z0[i];
#pragma unroll
            for (int j = 0; j < ar::kPacket; j++)
                sum_sq[i] = rms::add_square(sum_sq[i], z0[i].v[j]);
        }
    }
    const float inv = rms::inv_rms(sl::block_sum<NV>(sum_sq, threads), dim, m.eps);
#pragma unroll
    for (int i = 0; i < NV; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        if (u < npackets) {
            const sl::Bf16x8 w = wp[u];
            sl::Bf16x8 y;
#pragma unroll
            for (int j = 0; j < ar::kPacket; j++)
                y.v[j] = rms::scale(z0[i].v[j], inv, w.v[j]);
            xn[u] = y;
        }
    }
    __syncthreads();
}

/* The GEMV's x: with the norm (NV > 0), the normalised row in shared memory,
 * made from the residual row X by the whole block as rms::norm_row_into with
 * NV threads a thread (holding its first packets unless LEAN), after the
 * all-reduce's sum is added to it where G (gather_row); else X itself.
 * Every thread of the block calls it (a barrier with the norm). */
template <int NV, bool LEAN, bool G>
__device__ __forceinline__ const bf16 *gemv_input(const bf16 *x, int in_dim,
                                                  const sl_cuda_gemv_norm_t &norm)
{
    if constexpr (NV == 0) {
        return x;
    } else {
        extern __shared__ uint4 x_norm[]; /* [in_dim / 8] */
        bf16 *xn = reinterpret_cast<bf16 *>(x_norm);
        if constexpr (G && NV <= 2) {
            gather_norm_row<NV>(xn, x, in_dim, norm);
            return xn;
        }
        if constexpr (G) {
            gather_row<NV>(xn, x, in_dim, norm); /* z, in place of xn */
            x = xn;
        }
        /* G: z is in shared memory, nothing to hold (registers the gather needs) */
        sl::rms::norm_row_into<NV, !LEAN && !G>(
            xn, x, reinterpret_cast<const bf16 *>(norm.weight), in_dim, norm.eps);
        return xn;
    }
}

/* act row ROW = silu(x . Wg[row]) * (x . Wu[row]) for gemv_silu_kernel, by
 * one warp; WV: the first group of the gate row's loads, issued already. */
template <int N, int U, bool PRE>
__device__ __forceinline__ void silu_row(bf16 *act, int64_t lda, const bf16 *x, int64_t ldx,
                                         const bf16 *w_gu, int inter, int in_dim, int row,
                                         uint4 (&wv)[U], int lane)
{
    const int packets = in_dim / 8;
    float g[N], u[N];
#pragma unroll
    for (int n = 0; n < N; n++)
        g[n] = u[n] = 0.0f;
    row_dot_pre<N, U, PRE>(g, wv, reinterpret_cast<const uint4 *>(w_gu + (size_t)row * in_dim),
                           x, ldx, packets, lane);
    row_dot<N, U>(u, reinterpret_cast<const uint4 *>(w_gu + (size_t)(inter + row) * in_dim), x,
                  ldx, packets, lane);
#pragma unroll
    for (int n = 0; n < N; n++) {
        const float gv = sl::to_f(sl::to_bf(sl::warp_sum(g[n])));
        const float uv = sl::to_f(sl::to_bf(sl::warp_sum(u[n])));
        if (lane == n % 32)
            act[(size_t)n * lda + row] = sl::to_bf(sl::silu(gv) * uv);
    }
}

/*
 * SwiGLU's first half at decode: act = silu(x . Wg^T) * (x . Wu^T) in one
 * pass, where the unfused path writes [N, 2 inter] gate/up values and reads
 * them back in another kernel. Warp i computes rows i (gate) and inter + i
 * (up) of w_gu with the same loop as gemv_kernel and rounds each to bf16
 * before silu, as the stored values would be: bit-identical to
 * sl_cuda_gemv_bf16 + sl_cuda_silu_mul_bf16 (NV > 0: preceded by
 * sl_cuda_rmsnorm_bf16 of the residual row x, the LEAN or wide build; G: by
 * sl_cuda_ar_rmsnorm_bf16, the all-reduce too, in blocks of W warps).
 *
 * act:  [N, lda] bf16, columns [0, inter) written
 * x:    [N, ldx] bf16 (NV > 0: N = 1, the residual row to normalise first)
 * w_gu: [2 inter, in_dim] bf16, gate rows then up rows
 */
template <int N, int U, int NV, bool LEAN, bool G, int W = kRowsPerBlock>
__global__ void __launch_bounds__(W * 32, min_blocks(NV, LEAN, G, W))
gemv_silu_kernel(bf16 *act, int64_t lda, const bf16 *x, int64_t ldx, const bf16 *w_gu,
                 int inter, int in_dim, sl_cuda_gemv_norm_t norm)
{
    static_assert(NV == 0 || N == 1, "the norm before the GEMV takes one row");
    static_assert(!G || NV != 0, "the all-reduce comes with the norm");
    sl::pdl_wait(); /* first: see sl::launch */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, packets = in_dim / 8;
    const int row = blockIdx.x * W + warp;
    constexpr bool EARLY = early_loads(NV, LEAN, G, W);
    uint4 wv[U];
    if (row < inter)
        first_weights<U, EARLY, G>(wv, reinterpret_cast<const uint4 *>(w_gu + (size_t)row * in_dim),
                                   lane, packets);
    if constexpr (NV != 0)
        x = gemv_input<NV, LEAN, G>(x, in_dim, norm);
    if (row < inter) /* no block-wide synchronisation follows */
        silu_row<N, U, EARLY>(act, lda, x, ldx, w_gu, inter, in_dim, row, wv, lane);
}

/*
 * gemv_kernel's bf16 product that also pushes it to the peers of a one-shot
 * all-reduce (sl_cuda_gemv_push_bf16): a block's kRowsPerBlock rows of token
 * n are one 16-byte packet of the all-reduce's input [N, out_dim], packet
 * n * out_dim / 8 + blockIdx.x; once the block's warps have their sums,
 * thread t < N * (nranks - 1) stores token t % N's packet into this rank's
 * slot of the call's parity (PUSH.set: of the call's static set) on peer
 * 1 + t / N ranks further (the order of allreduce.cu's pushes), Lamport-safe
 * as allreduce.cu's own pushes.
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
    if (t == 0 && !push.set) /* read while the rows load; seen after the barrier below */
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
        char *base = ar::select<ar::kMaxRanks>(push.base, peer);
        sl::Bf16x8 *dst = push.set /* this rank's slot in the peer's set, or of the parity */
                              ? reinterpret_cast<sl::Bf16x8 *>(base) + push.rank * push.slot_packets
                              : ar::slot(base, parity, push.rank, push.nranks, push.slot_packets);
        dst[p] = ar::lamport_safe(packet[n]);
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
 * sl_cuda_gemv_bf16 + sl_cuda_qkv_rope_store_bf16 (without q/k norm); NV > 0:
 * preceded by sl_cuda_rmsnorm_bf16 of the residual row x, N = 1.
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
template <int N, int U, int NV, bool LEAN, bool G>
__global__ void __launch_bounds__(kRowsPerBlock * 32, min_blocks(NV, LEAN, G))
gemv_rope_kernel(bf16 *qkv, const bf16 *x, int64_t ldx, const bf16 *w, int in_dim,
                 RopeStore rs, sl_cuda_gemv_norm_t norm)
{
    static_assert(NV == 0 || N == 1, "the norm before the GEMV takes one row");
    static_assert(!G || NV != 0, "the all-reduce comes with the norm");
    static_assert(kRowsPerBlock == 8, "4 pairs, or 8 v elements, per block");
    __shared__ bf16 vals[N][kRowsPerBlock]; /* [N][8] the block's rows of each token */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = threadIdx.x;
    const int hd = rs.head_dim, half = hd / 2, per_unit = hd / kRowsPerBlock;
    const int u = blockIdx.x / per_unit, g = blockIdx.x % per_unit;
    const bool rotated = u < rs.heads + rs.kv_heads;
    const int i = rotated ? 4 * g + (warp & 3) + (warp >= 4 ? half : 0) : 8 * g + warp;
    const int row = u * hd + i;
    const int packets = in_dim / 8;
    const uint4 *wr = reinterpret_cast<const uint4 *>(w + (size_t)row * in_dim);
    sl::pdl_wait(); /* first: see sl::launch */
    constexpr bool EARLY = early_loads(NV, LEAN, G);
    uint4 wv[U];
    first_weights<U, EARLY, G>(wv, wr, lane, packets);
    if constexpr (NV != 0)
        x = gemv_input<NV, LEAN, G>(x, in_dim, norm);
    float acc[N];
#pragma unroll
    for (int n = 0; n < N; n++)
        acc[n] = 0.0f;
    row_dot_pre<N, U, EARLY>(acc, wv, wr, x, ldx, packets, lane);
    warp_sums<N>(acc);
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

void launch_push(int n, bf16 *out, const bf16 *x, int64_t ldx, const bf16 *w, int out_dim,
                 int in_dim, const sl_cuda_ar_push_t &push, cudaStream_t stream)
{
    const unsigned grid = (unsigned)(out_dim / kRowsPerBlock);
    with_rows(n, [&](auto rows) {
        constexpr int N = decltype(rows)::value;
        constexpr auto kernel = gemv_push_kernel<N, kUnroll>;
        (void)sl::launch(kernel, grid, kRowsPerBlock * 32,
                         N == 1 ? balanced_smem<kernel>(grid, 0) : 0, stream, out, x, ldx, w,
                         out_dim, in_dim, push);
    });
}

/* Dynamic shared memory of a kernel with the norm: the normalised row. */
size_t norm_smem(const sl_cuda_gemv_norm_t *norm, int in_dim)
{
    return norm != nullptr ? (size_t)in_dim * sizeof(bf16) : 0;
}

/* F(std::integral_constant<int, NV>) for the norm of rows of IN_DIM. */
template <class F> void with_norm_v(int in_dim, F &&f)
{
    if (norm_v(in_dim) == 2)
        f(std::integral_constant<int, 2>{});
    else
        f(std::integral_constant<int, 4>{});
}

/* Launches the lean or the wide build of a kernel with the norm (LEAN, WIDE)
 * for GRID blocks: the one that runs them in fewer waves, the wide one where
 * both take as many (docs/PERFORMANCE.md, 2026-11-29 session 6: the wide
 * build's single round trip and lower occupancy won at equal waves). */
template <auto LEAN, auto WIDE, class... Args>
void launch_norm_build(unsigned grid, size_t smem, cudaStream_t stream, Args &&...args)
{
    if (waves<WIDE>(grid, smem) > waves<LEAN>(grid, smem))
        (void)sl::launch(LEAN, grid, kRowsPerBlock * 32, balanced_smem<LEAN>(grid, smem), stream,
                         std::forward<Args>(args)...);
    else
        (void)sl::launch(WIDE, grid, kRowsPerBlock * 32, balanced_smem<WIDE>(grid, smem), stream,
                         std::forward<Args>(args)...);
}

/* The builds of the kernels below, for launch_fused: Kernels::of<N, NV, LEAN, G>. */
struct RopeKernels {
    template <int N, int NV, bool LEAN, bool G>
    static constexpr auto of = gemv_rope_kernel<N, kUnroll, NV, LEAN, G>;
};
struct SiluKernels {
    template <int N, int NV, bool LEAN, bool G>
    static constexpr auto of = gemv_silu_kernel<N, kUnroll, NV, LEAN, G>;
    /* with the all-reduce, kWideWarps warps a block (NV for that block) */
    template <int NV>
    static constexpr auto gather_wide = gemv_silu_kernel<1, kUnroll, NV, false, true, kWideWarps>;
};

/* Whether a kernel family has the kWideWarps gather build (SiluKernels). */
template <class K, class = void> constexpr bool has_wide_gather = false;
template <class K>
constexpr bool has_wide_gather<K, std::void_t<decltype(K::template gather_wide<1>)>> = true;

/* Launches the K kernel for N rows over GRID blocks (of kRowsPerBlock rows)
 * with ARGS and NORM: with the norm (NORM set), the lean or wide build for
 * IN_DIM (launch_norm_build), likewise with the all-reduce too
 * (NORM->partial), except where K has the kWideWarps build and a row of
 * IN_DIM is one packet a thread of it; else the plain one, balanced at one
 * row. */
template <class K, class... Args>
void launch_fused(int n, unsigned grid, int in_dim, const sl_cuda_gemv_norm_t *norm,
                  cudaStream_t stream, Args... args)
{
    if (norm != nullptr) {
        const size_t smem = norm_smem(norm, in_dim);
        const bool gather = norm->partial != nullptr;
        if constexpr (has_wide_gather<K>) {
            if (gather && sl::rms::threads_for(in_dim / 8) <= kWideWarps * 32) {
                /* ceil(rows / 16) = ceil(ceil(rows / 8) / 2); not balanced
                 * (blocks_per_sm<> asks for kRowsPerBlock warps) */
                (void)sl::launch(K::template gather_wide<1>, (grid + 1) / 2, kWideWarps * 32,
                                 smem, stream, args..., *norm);
                return;
            }
        }
        with_norm_v(in_dim, [&](auto nv) {
            constexpr int NV = decltype(nv)::value;
            if (gather)
                launch_norm_build<K::template of<1, NV, true, true>,
                                  K::template of<1, NV, false, true>>(grid, smem, stream, args...,
                                                                      *norm);
            else
                launch_norm_build<K::template of<1, NV, true, false>,
                                  K::template of<1, NV, false, false>>(grid, smem, stream,
                                                                       args..., *norm);
        });
        return;
    }
    with_rows(n, [&](auto rows) {
        constexpr int N = decltype(rows)::value;
        constexpr auto kernel = K::template of<N, 0, false, false>;
        (void)sl::launch(kernel, grid, kRowsPerBlock * 32,
                         N == 1 ? balanced_smem<kernel>(grid, 0) : 0, stream, args...,
                         sl_cuda_gemv_norm_t{});
    });
}

} // namespace

extern "C" int sl_cuda_gemv_norm_supported(int n, int in_dim, const void *z, const void *weight)
{
    return n == 1 && sl_cuda_gemv_supported(n, in_dim, z, in_dim, weight) &&
           (size_t)in_dim * sizeof(bf16) <= kGemvNormMaxSmem;
}

/* NORM's operands for a GEMV of the row X [in_dim], with its all-reduce
 * where NORM->partial is set. */
static bool norm_ok(const sl_cuda_gemv_norm_t *norm, int n, int in_dim, const void *x)
{
    if (norm == nullptr)
        return true;
    if (!sl_cuda_gemv_norm_supported(n, in_dim, x, norm->weight))
        return false;
    if (norm->partial == nullptr)
        return true;
    const sl_cuda_ar_gather_t &g = norm->gather;
    return sl::aligned16(norm->partial) && sl::aligned16(norm->bias) &&
           norm->residual_out != nullptr && sl::aligned16(norm->residual_out) &&
           norm->residual_out != x && norm->residual_out != norm->partial && g.slots != nullptr &&
           g.clear != nullptr && g.abort != nullptr && g.error != nullptr &&
           g.packets == in_dim / 8 && g.stride >= g.packets && g.nranks >= 1 &&
           g.nranks <= SL_CUDA_AR_MAX_RANKS && g.rank >= 0 && g.rank < g.nranks;
}


extern "C" sl_status_t sl_cuda_gemv_silu_bf16(uint16_t *act, int64_t lda, const uint16_t *x,
                                              int64_t ldx, const uint16_t *w_gu, int n,
                                              int inter, int in_dim,
                                              const sl_cuda_gemv_norm_t *norm,
                                              cudaStream_t stream)
{
    if (act == nullptr || inter <= 0 || in_dim <= 0 || lda < inter || ldx < in_dim ||
        !sl_cuda_gemv_supported(n, in_dim, x, ldx, w_gu) ||
        !norm_ok(norm, n, in_dim, x)) {
        sl_error("sl_cuda_gemv_silu_bf16: unsupported arguments (n=%d inter=%d in_dim=%d)", n,
                 inter, in_dim);
        return SL_ERR_INVALID_ARG;
    }
    launch_fused<SiluKernels>(n, sl::blocks_for(inter, kRowsPerBlock), in_dim, norm, stream,
                              reinterpret_cast<bf16 *>(act), lda, reinterpret_cast<const bf16 *>(x),
                              ldx, reinterpret_cast<const bf16 *>(w_gu), inter, in_dim);
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
        push->nranks < 1 || push->nranks > SL_CUDA_AR_MAX_RANKS || push->rank < 0 ||
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
    uint16_t *v_cache, const sl_cuda_gemv_norm_t *norm, cudaStream_t stream)
{
    if (qkv == nullptr || heads <= 0 || kv_heads <= 0 || in_dim <= 0 ||
        !sl_cuda_gemv_rope_supported(n, in_dim, x, ldx, w_qkv, head_dim) ||
        cos_table == nullptr || sin_table == nullptr || positions == nullptr ||
        slots == nullptr || k_cache == nullptr || v_cache == nullptr ||
        !norm_ok(norm, n, in_dim, x)) {
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
    const unsigned grid = (unsigned)((heads + 2 * kv_heads) * (head_dim / kRowsPerBlock));
    launch_fused<RopeKernels>(n, grid, in_dim, norm, stream, reinterpret_cast<bf16 *>(qkv),
                              reinterpret_cast<const bf16 *>(x), ldx,
                              reinterpret_cast<const bf16 *>(w_qkv), in_dim, rs);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gemv_rope_store_bf16");
    return SL_OK;
}