/*
 * allreduce.cu - a one-shot all-reduce (sum) of bf16 vectors over the GPUs of
 * one process, for the small messages of tensor-parallel decode: NCCL takes
 * about 11 us per 8 KB all-reduce inside a CUDA graph, 64 of them per token
 * of an 8B model at TP 2; this kernel is one launch, one cross-GPU barrier
 * and no host involvement.
 *
 * Memory. Every rank owns one cudaMalloc'd buffer on its GPU; the group
 * enables peer access between every pair, after which a rank's kernel writes
 * its peers' buffers through their raw device pointers (all ranks live in
 * this process: no IPC handles). Each buffer holds:
 *
 *   ctl    epoch (u64) and a finished-block counter: only its owner touches it
 *   flags  u64 [2][kMaxBlocks][kMaxRanks]: flags[q][b][k] is written by block
 *          b of rank k, in the call whose epoch has parity q
 *   data   16-byte packets [2][nranks][slot_packets]: data[q][k] is rank k's
 *          input of the last call of parity q
 *
 * One call (epoch e, parity q = e & 1), block b of rank r:
 *   1. push: for each packet p of the block, read in[p] and store it into
 *      data[q][r][p] of every peer (remote 16-byte stores over NVLink);
 *   2. barrier: __syncthreads(); thread k (k != r) stores e into
 *      flags[q][b][r] of peer k with st.release.sys (so the block's pushes
 *      are visible there first), then spins on its own flags[q][b][k] until it
 *      reads e, then fence.acq_rel.sys (acquire); __syncthreads();
 *   3. reduce: out[p] = bf16(sum over k = 0..nranks-1 in that order of rank
 *      k's packet, own input for k = r, local data[q][k] otherwise), summed in
 *      float32. The order is the same on every rank, so every rank gets the
 *      same bits (the ranks' residual streams stay identical, as with NCCL).
 *   4. the last block to finish (an atomic count in ctl) sets epoch = e + 1.
 * Packet p is handled by the same thread in steps 1 and 3 (the same
 * grid-stride loop), so out may alias in. Block b waits only for block b of
 * its peers: they pushed exactly the packets it reduces, because the grid is
 * a function of count alone and every rank makes the same calls.
 *
 * Why a slot is never overwritten while a peer still reads it, with no second
 * barrier: the slots and flags of call e + 1 have the other parity. A rank
 * writes parity q again only in call e + 2, and its kernel e + 2 starts after
 * its kernel e + 1 has finished (stream order); every block of e + 1 passed
 * its barrier, which needs every peer's kernel e + 1 to have started, so every
 * peer's kernel e, and with it each of its reads of parity q, has finished.
 * The same argument keeps flags[q][b][k] at e until its owner has read it
 * (the next value, e + 2, comes after that owner's kernel e + 1 started).
 *
 * Why it survives CUDA graphs: nothing of the protocol comes from the host at
 * launch. The epoch lives in device memory, is read at the start of each
 * launch and advanced by the launch itself, so a captured kernel node
 * replayed any number of times, mixed with eager calls of other sizes, sees
 * the next epoch each time. Epochs are 64-bit, start at 1 (flags start at 0)
 * and never wrap, so a stale flag can never equal the epoch awaited. The
 * only requirement is the one NCCL has: every rank makes the same sequence of
 * calls with the same counts, each rank's calls ordered (one stream).
 *
 * Hang protection: a peer that never arrives (its GPU failed, its thread
 * stopped before enqueueing) would leave the spin in step 2 running forever
 * and the stream with it. The spin reads %globaltimer every 1024 polls and
 * gives up after the group's timeout, or at once when the host sets the
 * group's abort word (sl_cuda_ar_abort, in host-mapped memory); on timeout it
 * records which rank waited for which peer in a host-mapped error word
 * (sl_cuda_ar_failed). The kernel then finishes with garbage output and the
 * group is unusable, like an NCCL communicator after ncclCommAbort.
 *
 * Fused with the next RMSNorm (sl_cuda_ar_rmsnorm_bf16): in TP decode every
 * all-reduce of the hidden state is followed by a bias add and an RMSNorm
 * with the residual add, two more small kernels whose launch gaps and runs
 * cost as much as the all-reduce's. The fused kernel is the same protocol
 * (the same code: Call below) over x [rows, dim] in whole rows per block: block
 * b pushes and reduces rows b, b + grid, ..., so one block holds a row's sum
 * of squares; after step 3 of a row it adds the bias and the residual and
 * normalises, with the roundings of the unfused sequence (the all-reduce's,
 * then activation.cu's add_bias, then rmsnorm.cu's arithmetic from
 * rmsnorm.cuh with rmsnorm.cu's thread count): the same bits. Its grid is a
 * function of rows and dim alone, every rank's the same. What a thread's
 * first packet needs from this GPU (input, residual, weight) is loaded before
 * the barrier, under the wait for the peers.
 *
 * Residency: a block of rank r waits for the same block of its peers, never
 * for another block of its own grid, so it needs each GPU to run its blocks,
 * not all at once; at most kMaxBlocks blocks of kThreads threads are launched,
 * far below one block per SM.
 *
 * No C twin in src/backend/cpu/: the oracle is the float32 sum in rank order
 * rounded to bf16, which tests/gpu/test_cuda_allreduce.c computes on the host
 * (and NCCL's result); for the fused kernel, the unfused sequence of kernels
 * (whose twins are sl_cpu_add_bias and sl_cpu_rmsnorm).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ar_group.cuh"
#include "ar_slots.cuh"
#include "rmsnorm.cuh"
#include "sl_kernels.h"

namespace {

namespace rms = sl::rms;
using sl::bf16;
using sl::Bf16x8;

using sl::ar::Ctl;
using sl::ar::HostWords;
using sl::ar::kDataOffset;
using sl::ar::kFlagOffset;
using sl::ar::kMaxBlocks;
using sl::ar::kMaxRanks;
using sl::ar::kPacket;
using sl::ar::lamport_safe;

constexpr int kThreads = 512;
using sl::ar::kPollsPerCheck;
using sl::ar::kTimedOut;


/* A launch's arguments, passed by value (so a captured node keeps them). */
struct Args {
    char *base[kMaxRanks];  /* every rank's buffer, reachable through peer access */
    const int32_t *abort;   /* HostWords::abort, device view */
    int32_t *error;         /* HostWords::error, device view */
    const bf16 *in;         /* [count] */
    bf16 *out;              /* [count], may be in */
    int64_t count;
    int64_t slot_packets;
    uint64_t timeout_ns;
    int rank;
};

/* The fused kernel's norm operands; in and out of its Args are x. */
struct NormArgs {
    const float *bias;  /* [dim], or nullptr */
    bf16 *residual;     /* [rows, dim] */
    const bf16 *weight; /* [dim] */
    bf16 *xn;           /* [rows, dim] */
    int rows, dim;      /* dim % kPacket == 0 */
    int threads;        /* rms::threads_for(dim / kPacket): rmsnorm.cu's block */
    float eps;
};

__device__ __forceinline__ void st_release_sys(uint64_t *p, uint64_t v)
{
    asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

__device__ __forceinline__ uint64_t ld_relaxed_sys(const uint64_t *p)
{
    uint64_t v;
    asm volatile("ld.relaxed.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

__device__ __forceinline__ void fence_acq_rel_sys()
{
    asm volatile("fence.acq_rel.sys;" ::: "memory");
}

/* data[q][src] of the buffer at BASE: [slot_packets] packets. */
template <int N>
__device__ __forceinline__ Bf16x8 *slot(char *base, int q, int src, int64_t slot_packets)
{
    return sl::ar::slot(base, q, src, N, slot_packets);
}

__device__ __forceinline__ uint64_t *flag(char *base, int q, int block, int src)
{
    return reinterpret_cast<uint64_t *>(base + kFlagOffset) +
           ((q * kMaxBlocks + block) * kMaxRanks + src);
}

/* Packet p of x [count]; the last one may be partial (zero-filled). */
__device__ __forceinline__ Bf16x8 load_packet(const bf16 *x, int64_t p, int64_t count)
{
    if ((p + 1) * kPacket <= count)
        return reinterpret_cast<const Bf16x8 *>(x)[p];
    Bf16x8 v;
#pragma unroll
    for (int j = 0; j < kPacket; j++)
        v.v[j] = p * kPacket + j < count ? x[p * kPacket + j] : sl::to_bf(0.0f);
    return v;
}

__device__ __forceinline__ void store_packet(bf16 *x, int64_t p, int64_t count,
                                             const float *acc)
{
    Bf16x8 v;
#pragma unroll
    for (int j = 0; j < kPacket; j++)
        v.v[j] = sl::to_bf(acc[j]);
    if ((p + 1) * kPacket <= count) {
        reinterpret_cast<Bf16x8 *>(x)[p] = v;
        return;
    }
    for (int j = 0; j < kPacket && p * kPacket + j < count; j++)
        x[p * kPacket + j] = v.v[j];
}

/* A packet a peer pushed: read at L2 (where peer stores land), not from L1. */
__device__ __forceinline__ Bf16x8 load_pushed(const Bf16x8 *p)
{
    const uint4 u = __ldcg(reinterpret_cast<const uint4 *>(p));
    Bf16x8 v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* a.base[i] for a rank i known only at run time (sl::ar::select). */
template <int N> __device__ __forceinline__ char *base_of(const Args &a, int i)
{
    return sl::ar::select<N>(a.base, i);
}

/* sl::ar::keep_waiting() for a wait of A's rank for PEER; not inlined, so
 * that the spins stay small enough for the kernels' registers. */
__device__ __noinline__ bool keep_waiting(uint64_t *start, const Args &a, int peer)
{
    return sl::ar::keep_waiting(start, a.abort, a.error, a.timeout_ns, a.rank, peer);
}

/* Spins until *F holds EPOCH, stored by PEER with release semantics; then
 * acquires. False when keep_waiting() gives up. */
__device__ __forceinline__ bool wait_for_peer(const uint64_t *f, uint64_t epoch, const Args &a,
                                              int peer)
{
    uint64_t start = 0;

    for (uint32_t polls = 1; ld_relaxed_sys(f) != epoch; polls++)
        if (polls % kPollsPerCheck == 0 && !keep_waiting(&start, a, peer))
            return false;
    fence_acq_rel_sys();
    return true;
}

/* ---- the Lamport protocol: the data is its own flag --------------------------------- */

/* The packet PEER pushed into SLOT, once every lane of it has arrived; then
 * the slot is emptied for the call after next of this parity. Garbage when
 * keep_waiting() gives up. */
__device__ __forceinline__ Bf16x8 take_pushed(Bf16x8 *slot, const Args &a, int peer)
{
    const Bf16x8 v = sl::ar::wait_pushed(slot, sl::ar::ld_volatile_v4(slot),
                                         [&](uint64_t *start) { return keep_waiting(start, a, peer); });
    *reinterpret_cast<uint4 *>(slot) = make_uint4(~0u, ~0u, ~0u, ~0u);
    return v;
}

/* One launch's part in the protocol, the same for both kernels: the steps of
 * the header comment, each for the packets the caller's thread handles.
 * L: the Lamport protocol (no barrier; sum() waits for each packet). */
template <int N, bool L> struct Call {
    char *mine;
    Ctl *ctl;
    uint64_t epoch;
    int q;
    Bf16x8 *dst[N > 1 ? N - 1 : 1]; /* this rank's slot of parity q on each peer */

    __device__ __forceinline__ explicit Call(const Args &a)
    {
        mine = base_of<N>(a, a.rank);
        ctl = reinterpret_cast<Ctl *>(mine);
        epoch = sl::ar::next_epoch(mine);
        q = (int)(epoch & 1);
        /* The next rank first, so that the ranks' traffic spreads over the links. */
#pragma unroll
        for (int k = 1; k < N; k++)
            dst[k - 1] = slot<N>(base_of<N>(a, (a.rank + k) % N), q, a.rank, a.slot_packets);
    }

    /* 1. Packet p of this rank's input into its slot on every peer. */
    __device__ __forceinline__ void push(int64_t p, const Bf16x8 &v) const
    {
        const Bf16x8 w = L ? lamport_safe(v) : v;
#pragma unroll
        for (int k = 0; k < N - 1; k++)
            dst[k][p] = w;
    }

    /* 2. Barrier with block blockIdx.x of every peer; thread k talks to rank k.
     * Lamport: none, the packets themselves say they have arrived. */
    __device__ __forceinline__ void barrier(const Args &a) const
    {
        if (L)
            return;
        __syncthreads();
        const int k = threadIdx.x;
        if (k < N && k != a.rank) {
            st_release_sys(flag(base_of<N>(a, k), q, blockIdx.x, a.rank), epoch);
            (void)wait_for_peer(flag(mine, q, blockIdx.x, k), epoch, a, k);
        }
        __syncthreads();
    }

    /* 3. ACC = packet p summed in rank order in float32: OWN (this rank's
     * input) for this rank, what the peers pushed for the others. */
    __device__ __forceinline__ void sum(const Args &a, int64_t p, const Bf16x8 &own,
                                       float *acc) const
    {
        Bf16x8 v[N];
#pragma unroll
        for (int src = 0; src < N; src++) {
            Bf16x8 *pushed = slot<N>(mine, q, src, a.slot_packets) + p;
            if (src == a.rank)
                v[src] = L ? lamport_safe(own) : own; /* the bits the peers sum */
            else
                v[src] = L ? take_pushed(pushed, a, src) : load_pushed(pushed);
        }
#pragma unroll
        for (int j = 0; j < kPacket; j++) {
            acc[j] = sl::to_f(v[0].v[j]);
#pragma unroll
            for (int src = 1; src < N; src++)
                acc[j] += sl::to_f(v[src].v[j]);
        }
    }

    /* 4. Every block has read the epoch (above); the last one advances it. */
    __device__ __forceinline__ void finish() const
    {
        __syncthreads();
        if (threadIdx.x == 0 && atomicAdd(&ctl->done, 1u) == gridDim.x - 1) {
            ctl->done = 0;
            ctl->epoch = epoch + 1;
        }
    }
};

/* N ranks; grid <= kMaxBlocks blocks of >= 32 threads (>= N). */
template <int N, bool L>
__global__ void __launch_bounds__(kThreads) oneshot_kernel(Args a)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const Call<N, L> c(a);
    const int64_t npackets = (a.count + kPacket - 1) / kPacket;
    const int64_t first = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;

    for (int64_t p = first; p < npackets; p += stride)
        c.push(p, load_packet(a.in, p, a.count));
    c.barrier(a);
    /* One rounding to bf16 of the float32 sum. */
    for (int64_t p = first; p < npackets; p += stride) {
        float acc[kPacket];
        c.sum(a, p, load_packet(a.in, p, a.count), acc);
        store_packet(a.out, p, a.count, acc);
    }
    c.finish();
}

/* What a thread reads of packet j of a row from this GPU before the sum. */
struct Local {
    Bf16x8 own;      /* this rank's partial sum */
    Bf16x8 residual; /* before the add */
};

__device__ __forceinline__ Local load_local(const Args &a, const NormArgs &m, int row, int j)
{
    const int64_t p = (int64_t)row * (m.dim / kPacket) + j;
    return {reinterpret_cast<const Bf16x8 *>(a.in)[p],
            reinterpret_cast<const Bf16x8 *>(m.residual)[p]};
}

/* Step 1 for packets FROM, FROM + blockDim.x, ... of ROW, read from x. */
template <int N, bool L>
__device__ __forceinline__ void push_row(const Call<N, L> &c, const Args &a, const NormArgs &m,
                                         int row, int from)
{
    const int per_row = m.dim / kPacket;
    for (int j = from; j < per_row; j += blockDim.x) {
        const int64_t p = (int64_t)row * per_row + j;
        c.push(p, reinterpret_cast<const Bf16x8 *>(a.in)[p]);
    }
}

/* Step 3 for packet j of ROW, then the first pass of the norm with the
 * roundings of the unfused sequence: x = bf16(sum), x = bf16(x + bias) as
 * activation.cu's add_bias, z = rmsnorm.cu's residual sum; x and z stored,
 * SUM_SQ += z^2. Returns z. */
template <int N, bool L>
__device__ __forceinline__ Bf16x8 reduce_add(const Call<N, L> &c, const Args &a, const NormArgs &m,
                                             int row, int j, const Local &o, float &sum_sq)
{
    const int64_t p = (int64_t)row * (m.dim / kPacket) + j;
    float acc[kPacket];
    Bf16x8 x, z;

    c.sum(a, p, o.own, acc);
    sl::ar::residual_sum(acc, m.bias != nullptr ? m.bias + (size_t)j * kPacket : nullptr,
                         o.residual, x, z);
#pragma unroll
    for (int k = 0; k < kPacket; k++)
        sum_sq = rms::add_square(sum_sq, z.v[k]);
    reinterpret_cast<Bf16x8 *>(a.out)[p] = x;
    reinterpret_cast<Bf16x8 *>(m.residual)[p] = z;
    return z;
}

/*
 * One row after the barrier, done as rmsnorm.cu's block of m.threads
 * threads would: thread t stands for its threads u = t + i * blockDim.x
 * (i < V), each taking packets u, u + m.threads, ... through reduce_add;
 * the block's sum of squares; then xn = rmsnorm.cu's scaling. Packet u of
 * thread u takes FIRST[i] (its Local, loaded before the barrier) unless
 * FIRST is nullptr, and W0[i] (its weight); its residual sum stays in
 * registers for the second pass, other packets are read back as rmsnorm.cu
 * reads them.
 */
template <int N, int V, bool L>
__device__ __forceinline__ void norm_row(const Call<N, L> &c, const Args &a, const NormArgs &m,
                                         int row, const Local *first, const Bf16x8 (&w0)[V])
{
    const int per_row = m.dim / kPacket;
    const int64_t base = (int64_t)row * per_row;
    const Bf16x8 *residual = reinterpret_cast<const Bf16x8 *>(m.residual) + base; /* [per_row] */
    const Bf16x8 *weight = reinterpret_cast<const Bf16x8 *>(m.weight);           /* [per_row] */
    Bf16x8 *xn = reinterpret_cast<Bf16x8 *>(m.xn) + base;                         /* [per_row] */
    float sum_sq[V];
    Bf16x8 z0[V];

#pragma unroll
    for (int i = 0; i < V; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        sum_sq[i] = 0.0f;
        if (u < per_row)
            z0[i] = reduce_add(c, a, m, row, u,
                               first != nullptr ? first[i] : load_local(a, m, row, u), sum_sq[i]);
        for (int j = u + m.threads; j < per_row; j += m.threads)
            (void)reduce_add(c, a, m, row, j, load_local(a, m, row, j), sum_sq[i]);
    }
    const float inv = rms::inv_rms(sl::block_sum<V>(sum_sq, m.threads), m.dim, m.eps);
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        for (int j = u; j < per_row; j += m.threads) {
            const Bf16x8 z = j == u ? z0[i] : residual[j];
            const Bf16x8 w = j == u ? w0[i] : weight[j];
            Bf16x8 y;
#pragma unroll
            for (int k = 0; k < kPacket; k++)
                y.v[k] = rms::scale(z.v[k], inv, w.v[k]);
            xn[j] = y;
        }
    }
}

/*
 * x [rows, dim] = the sum over the ranks (+ bias); residual += x;
 * xn = RMSNorm(residual) * weight. N ranks; grid = min(rows, kMaxBlocks)
 * blocks; block b owns rows b, b + grid, ... m.threads is rmsnorm.cu's block
 * size for dim (on which the order of its block sum depends): the block has
 * that many threads up to kThreads, else kThreads with V = 2, so that the
 * registers of the N packets in flight fit without spills (one block per SM
 * is all the grid needs: without the 1, ptxas spills to fit two).
 * Every write of a row comes after the block's barrier, every push of it
 * before: x may be in and out. P: the projection that wrote x pushed its
 * packets already (sl_cuda_gemv_push_bf16, Lamport only), so step 1 is not
 * done here and the wait starts at once.
 */
template <int N, int V, bool L, bool P>
__global__ void __launch_bounds__(kThreads, 1) oneshot_rmsnorm_kernel(Args a, NormArgs m)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const Call<N, L> c(a);
    const int per_row = m.dim / kPacket, row0 = blockIdx.x;
    Local first[V];
    Bf16x8 w0[V];

    /* The thread's first packets: loaded now, so that their latency overlaps
     * the pushes and the wait for the peers. */
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int u = threadIdx.x + i * blockDim.x;
        if (u < per_row) {
            first[i] = load_local(a, m, row0, u);
            w0[i] = reinterpret_cast<const Bf16x8 *>(m.weight)[u];
            if (!P)
                c.push((int64_t)row0 * per_row + u, first[i].own);
        }
    }
    if (!P) {
        push_row(c, a, m, row0, threadIdx.x + V * blockDim.x);
        for (int row = row0 + gridDim.x; row < m.rows; row += gridDim.x)
            push_row(c, a, m, row, threadIdx.x);
    }
    c.barrier(a);
    norm_row<N, V, L>(c, a, m, row0, first, w0);
    for (int row = row0 + gridDim.x; row < m.rows; row += gridDim.x)
        norm_row<N, V, L>(c, a, m, row, nullptr, w0);
    c.finish();
}

struct Kernels {
    void (*plain)(Args);
    void (*rmsnorm[2][2])(Args, NormArgs); /* [pushed][V - 1] */
};

template <int N, bool L> Kernels kernels_of()
{
    Kernels k = {oneshot_kernel<N, L>,
                 {{oneshot_rmsnorm_kernel<N, 1, L, false>, oneshot_rmsnorm_kernel<N, 2, L, false>},
                  {nullptr, nullptr}}};
    if constexpr (L) { /* pushed by the projection: Lamport only (sl_cuda_ar_push_target) */
        k.rmsnorm[1][0] = oneshot_rmsnorm_kernel<N, 1, L, true>;
        k.rmsnorm[1][1] = oneshot_rmsnorm_kernel<N, 2, L, true>;
    }
    return k;
}

template <bool L> Kernels kernels_for(int nranks)
{
    switch (nranks) {
    case 1: return kernels_of<1, L>(); /* a group of one (sl_cuda_ar_create) */
    case 2: return kernels_of<2, L>();
    case 3: return kernels_of<3, L>();
    case 4: return kernels_of<4, L>();
    case 5: return kernels_of<5, L>();
    case 6: return kernels_of<6, L>();
    case 7: return kernels_of<7, L>();
    case 8: return kernels_of<8, L>();
    default: return {nullptr, {{nullptr, nullptr}, {nullptr, nullptr}}};
    }
}

Kernels kernels_for(int nranks, sl_cuda_ar_protocol_t protocol)
{
    return protocol == SL_CUDA_AR_LAMPORT ? kernels_for<true>(nranks)
                                          : kernels_for<false>(nranks);
}

} // namespace


extern "C" sl_status_t sl_cuda_ar_p2p_ok(const int *devices, int n, int *ok_p)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            int can = 0;
            if (devices[i] == devices[j]) /* ranks sharing a GPU (tests) */
                continue;
            SL_CUDA_RETURN_IF_ERROR(cudaDeviceCanAccessPeer(&can, devices[i], devices[j]));
            if (!can) {
                sl_debug("GPU %d cannot access the memory of GPU %d (no peer access)",
                         devices[i], devices[j]);
                *ok_p = 0;
                return SL_OK;
            }
        }
    }
    *ok_p = 1;
    return SL_OK;
}

/* Rank I's part of the setup, on its device: peer access to every other GPU,
 * its buffer zeroed with epoch 1, its view of the host words. */
static sl_status_t sl_cuda_ar_setup_rank(sl_cuda_ar_t *ar, int i, size_t bytes)
{
    const Ctl ctl = {1, 0};

    SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(ar->devices[i]));
    for (int j = 0; j < ar->nranks; j++) {
        if (ar->devices[j] == ar->devices[i])
            continue;
        cudaError_t e = cudaDeviceEnablePeerAccess(ar->devices[j], 0);
        if (e == cudaErrorPeerAccessAlreadyEnabled) {
            (void)cudaGetLastError(); /* NCCL (or an earlier group) enabled it: fine */
        } else if (e != cudaSuccess) {
            sl_error("cudaDeviceEnablePeerAccess from GPU %d to GPU %d: %s", ar->devices[i],
                     ar->devices[j], cudaGetErrorString(e));
            return SL_ERR_CUDA;
        }
    }
    cudaError_t e = cudaMalloc((void **)&ar->base[i], bytes);
    if (e != cudaSuccess) {
        ar->base[i] = NULL;
        sl_error("cudaMalloc of %.1f MB for the all-reduce buffer on GPU %d: %s",
                 (double)bytes / 1e6, ar->devices[i], cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
    }
    /* Control words and flags 0; every data lane empty (the Lamport
     * protocol's marker; the barrier protocol never reads a lane it did not
     * wait for). */
    SL_CUDA_RETURN_IF_ERROR(cudaMemset(ar->base[i], 0, kDataOffset));
    SL_CUDA_RETURN_IF_ERROR(cudaMemset(ar->base[i] + kDataOffset, 0xFF, bytes - kDataOffset));
    SL_CUDA_RETURN_IF_ERROR(cudaMemcpy(ar->base[i], &ctl, sizeof(ctl), cudaMemcpyHostToDevice));
    SL_CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer((void **)&ar->host_dev[i], ar->host, 0));
    /* Kernels run on non-blocking streams, which do not wait for the above. */
    SL_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    return SL_OK;
}

extern "C" sl_status_t sl_cuda_ar_create(const int *devices, int nranks, size_t max_bytes,
                                         double timeout_s, sl_cuda_ar_protocol_t protocol,
                                         sl_cuda_ar_t **ar_p)
{
    sl_cuda_ar_t *ar = NULL;
    size_t bytes = 0;
    int caller = 0;
    cudaError_t e;
    sl_status_t s = SL_OK;

    if (devices == NULL || nranks < 1 || nranks > kMaxRanks || max_bytes < 2 ||
        max_bytes > ((size_t)1 << 30) || !(timeout_s > 0) ||
        (protocol != SL_CUDA_AR_BARRIER && protocol != SL_CUDA_AR_LAMPORT)) {
        sl_error("sl_cuda_ar_create: invalid arguments (%d ranks, %zu bytes, timeout %g s)",
                 nranks, max_bytes, timeout_s);
        return SL_ERR_INVALID_ARG;
    }
    SL_CUDA_RETURN_IF_ERROR(cudaGetDevice(&caller));
    ar = (sl_cuda_ar_t *)calloc(1, sizeof(*ar));
    if (ar == NULL) {
        sl_error("out of memory for the all-reduce group");
        return SL_ERR_NO_MEMORY;
    }
    ar->nranks = nranks;
    ar->protocol = protocol;
    memcpy(ar->devices, devices, (size_t)nranks * sizeof(int));
    ar->max_bytes = max_bytes & ~(size_t)1; /* whole bf16 elements */
    ar->slot_packets = (int64_t)((ar->max_bytes + 15) / 16);
    ar->timeout_ns = timeout_s > 1e9 ? (uint64_t)1e18 : (uint64_t)(timeout_s * 1e9);
    bytes = kDataOffset + 2 * (size_t)nranks * (size_t)ar->slot_packets * 16;

    e = cudaHostAlloc((void **)&ar->host, sizeof(HostWords),
                      cudaHostAllocPortable | cudaHostAllocMapped);
    if (e != cudaSuccess) {
        ar->host = NULL;
        sl_error("cudaHostAlloc of the all-reduce status words: %s", cudaGetErrorString(e));
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    memset(ar->host, 0, sizeof(HostWords));
    for (int i = 0; i < nranks && s == SL_OK; i++)
        s = sl_cuda_ar_setup_rank(ar, i, bytes);
    if (s != SL_OK)
        goto err;
    e = cudaSetDevice(caller);
    if (e != cudaSuccess) {
        sl_error("cudaSetDevice(%d) after the all-reduce setup: %s", caller,
                 cudaGetErrorString(e));
        s = SL_ERR_CUDA;
        goto err;
    }
    *ar_p = ar;
    return SL_OK;
err:
    sl_cuda_ar_destroy(ar);
    (void)cudaSetDevice(caller);
    return s;
}

extern "C" void sl_cuda_ar_destroy(sl_cuda_ar_t *ar)
{
    int caller = 0;

    if (ar == NULL)
        return;
    if (cudaGetDevice(&caller) != cudaSuccess)
        caller = -1;
    for (int i = 0; i < ar->nranks; i++) {
        if (cudaSetDevice(ar->devices[i]) != cudaSuccess)
            continue;
        if (ar->base[i] != NULL)
            (void)cudaFree(ar->base[i]);
        if (ar->sets[i] != NULL)
            (void)cudaFree(ar->sets[i]);
    }
    if (ar->host != NULL)
        (void)cudaFreeHost(ar->host);
    if (caller >= 0)
        (void)cudaSetDevice(caller);
    free(ar);
}

extern "C" size_t sl_cuda_ar_max_bytes(const sl_cuda_ar_t *ar)
{
    return ar != NULL ? ar->max_bytes : 0;
}

extern "C" int sl_cuda_ar_supported(const sl_cuda_ar_t *ar, const void *in, const void *out,
                                    size_t count)
{
    return ar != NULL && in != NULL && out != NULL && count > 0 &&
           count <= ar->max_bytes / 2 && sl::aligned16(in) && sl::aligned16(out);
}

/* RANK's launch arguments for an all-reduce of IN into OUT [count]. */
static Args sl_cuda_ar_args(const sl_cuda_ar_t *ar, int rank, const uint16_t *in, uint16_t *out,
                            size_t count)
{
    Args a;
    memset(&a, 0, sizeof(a));
    for (int i = 0; i < ar->nranks; i++)
        a.base[i] = ar->base[i];
    a.abort = &ar->host_dev[rank]->abort;
    a.error = &ar->host_dev[rank]->error;
    a.in = reinterpret_cast<const bf16 *>(in);
    a.out = reinterpret_cast<bf16 *>(out);
    a.count = (int64_t)count;
    a.slot_packets = ar->slot_packets;
    a.timeout_ns = ar->timeout_ns;
    a.rank = rank;
    return a;
}

extern "C" sl_status_t sl_cuda_ar_bf16(sl_cuda_ar_t *ar, int rank, const uint16_t *in,
                                       uint16_t *out, size_t count, cudaStream_t stream)
{
    if (!sl_cuda_ar_supported(ar, in, out, count) || rank < 0 || rank >= ar->nranks) {
        sl_error("sl_cuda_ar_bf16: invalid arguments (rank %d, %zu elements, in %p, out %p; "
                 "the group takes up to %zu bytes, 16-byte aligned)",
                 rank, count, (const void *)in, (void *)out, sl_cuda_ar_max_bytes(ar));
        return SL_ERR_INVALID_ARG;
    }
    const Args a = sl_cuda_ar_args(ar, rank, in, out, count);

    /* A function of count alone: every rank launches the same grid. */
    const int64_t npackets = ((int64_t)count + kPacket - 1) / kPacket;
    const int threads = npackets >= kThreads ? kThreads : (int)((npackets + 31) / 32 * 32);
    int64_t blocks = (npackets + threads - 1) / threads;
    blocks = blocks > kMaxBlocks ? kMaxBlocks : blocks;
    (void)sl::launch(kernels_for(ar->nranks, ar->protocol).plain, (unsigned)blocks, threads, 0,
                     stream, a);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_ar_bf16");
    return SL_OK;
}

extern "C" int sl_cuda_ar_rmsnorm_supported(const sl_cuda_ar_t *ar, const void *x,
                                            const void *bias, const void *residual,
                                            const void *weight, const void *xn, int n, int h)
{
    return n > 0 && h > 0 && h % kPacket == 0 &&
           sl_cuda_ar_supported(ar, x, x, (size_t)n * (size_t)h) && residual != nullptr &&
           weight != nullptr && xn != nullptr && xn != x && xn != residual && x != residual &&
           sl::aligned16(bias) && sl::aligned16(residual) && sl::aligned16(weight) &&
           sl::aligned16(xn);
}

extern "C" int sl_cuda_ar_push_target(const sl_cuda_ar_t *ar, int rank, size_t count,
                                      sl_cuda_ar_push_t *push_p)
{
    if (ar == NULL || ar->protocol != SL_CUDA_AR_LAMPORT || rank < 0 || rank >= ar->nranks ||
        count == 0 || count > ar->max_bytes / 2)
        return 0;
    memset(push_p, 0, sizeof(*push_p));
    for (int i = 0; i < ar->nranks; i++)
        push_p->base[i] = ar->base[i];
    push_p->slot_packets = ar->slot_packets;
    push_p->nranks = ar->nranks;
    push_p->rank = rank;
    return 1;
}

extern "C" sl_status_t sl_cuda_ar_rmsnorm_bf16(sl_cuda_ar_t *ar, int rank, uint16_t *x,
                                               const float *bias, uint16_t *residual,
                                               const uint16_t *weight, uint16_t *xn, int n,
                                               int h, float eps, int pushed, cudaStream_t stream)
{
    if (!sl_cuda_ar_rmsnorm_supported(ar, x, bias, residual, weight, xn, n, h) || rank < 0 ||
        rank >= ar->nranks || (pushed && ar->protocol != SL_CUDA_AR_LAMPORT)) {
        sl_error("sl_cuda_ar_rmsnorm_bf16: invalid arguments (rank %d, %d x %d elements, x %p, "
                 "bias %p, residual %p, weight %p, xn %p; the group takes up to %zu bytes, "
                 "rows of a multiple of 8 elements, distinct 16-byte aligned buffers%s)",
                 rank, n, h, (void *)x, (const void *)bias, (void *)residual,
                 (const void *)weight, (void *)xn, sl_cuda_ar_max_bytes(ar),
                 pushed ? "; pushed rows need the Lamport protocol" : "");
        return SL_ERR_INVALID_ARG;
    }
    const Args a = sl_cuda_ar_args(ar, rank, x, x, (size_t)n * (size_t)h);
    const int threads = rms::threads_for(h / kPacket);
    NormArgs m;
    m.bias = bias;
    m.residual = reinterpret_cast<bf16 *>(residual);
    m.weight = reinterpret_cast<const bf16 *>(weight);
    m.xn = reinterpret_cast<bf16 *>(xn);
    m.rows = n;
    m.dim = h;
    m.threads = threads;
    m.eps = eps;
    static_assert(rms::kMaxThreads <= 2 * kThreads, "V = 2 covers rmsnorm.cu's largest block");
    const int v = threads > kThreads ? 2 : 1;

    /* A function of n and h alone: every rank launches the same grid. */
    const int blocks = n < kMaxBlocks ? n : kMaxBlocks;
    (void)sl::launch(kernels_for(ar->nranks, ar->protocol).rmsnorm[pushed != 0][v - 1],
                     (unsigned)blocks,
                     v == 1 ? threads : kThreads, 0, stream, a, m);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_ar_rmsnorm_bf16");
    return SL_OK;
}

extern "C" void sl_cuda_ar_abort(sl_cuda_ar_t *ar)
{
    if (ar != NULL && ar->host != NULL)
        __atomic_store_n(&ar->host->abort, 1, __ATOMIC_SEQ_CST);
}

extern "C" int sl_cuda_ar_failed(const sl_cuda_ar_t *ar, int *rank_p, int *peer_p)
{
    if (ar == NULL || ar->host == NULL)
        return 0;
    const int32_t e = __atomic_load_n(&ar->host->error, __ATOMIC_ACQUIRE);
    if ((e & kTimedOut) == 0)
        return 0;
    *rank_p = (e >> 8) & 0xff;
    *peer_p = e & 0xff;
    return 1;
}
