/*
 * ar_slots.cuh - the layout of a one-shot all-reduce rank buffer and the
 * Lamport packet rules, shared by allreduce.cu (the protocol) and gemv.cu
 * (a projection that pushes its rows into the peers' slots itself, before
 * the all-reduce kernel that sums them: sl_cuda_gemv_push_bf16).
 *
 * and the waits of the Lamport protocol, shared by allreduce.cu and the GEMVs
 * that take an all-reduce's sum in their prologue (gemv_fused.cu,
 * sl_cuda_ar_gather_t).
 *
 * A rank's buffer (allreduce.cu explains the protocol):
 *   [0, kFlagOffset)          Ctl: epoch (u64) and a finished-block counter
 *   [kFlagOffset, kDataOffset) flags u64 [2][kMaxBlocks][kMaxRanks]
 *   [kDataOffset, ...)        16-byte packets [2][nranks][slot_packets]:
 *                             data[q][k] holds rank k's input of the last
 *                             call of epoch parity q
 */
#ifndef SL_GPU_AR_SLOTS_CUH
#define SL_GPU_AR_SLOTS_CUH

#include <string.h>

#include "rmsnorm.cuh"
#include "sl_device.cuh"
#include "sl_kernels.h"

namespace sl {
namespace ar {

constexpr int kMaxRanks = SL_CUDA_AR_MAX_RANKS;
constexpr int kMaxBlocks = 32;
constexpr int kPacket = 8; /* bf16 elements per 16-byte packet */
constexpr size_t kFlagOffset = 128;
constexpr size_t kDataOffset = kFlagOffset + 2 * kMaxBlocks * kMaxRanks * sizeof(uint64_t);

struct Ctl {
    uint64_t epoch;
    uint32_t done;
};

/* The epoch of the next call on the buffer MINE (this rank's): advanced only
 * by the last block of an all-reduce kernel, so stable in any kernel that
 * runs after that one completed. */
__device__ __forceinline__ uint64_t next_epoch(const char *mine)
{
    return *reinterpret_cast<const volatile uint64_t *>(
        &reinterpret_cast<const Ctl *>(mine)->epoch);
}

/* data[q][src] of the buffer at BASE of a group of NRANKS: [slot_packets]. */
__device__ __forceinline__ Bf16x8 *slot(char *base, int q, int src, int nranks,
                                        int64_t slot_packets)
{
    return reinterpret_cast<Bf16x8 *>(base + kDataOffset) +
           ((int64_t)q * nranks + src) * slot_packets;
}

/* BASE[i] for an i known only at run time: a chain of selects, as indexing a
 * kernel parameter would copy the whole array to local memory. */
template <int N, typename T>
__device__ __forceinline__ char *select(T *const (&base)[kMaxRanks], int i)
{
    T *p = base[0];
#pragma unroll
    for (int j = 1; j < N; j++)
        p = i == j ? base[j] : p;
    return static_cast<char *>(p);
}

/* A bf16 lane no pushed packet holds: slots are filled with it, a reader
 * waits until no lane of its packet has it, then fills the packet again.
 * 0xFFFF is a NaN; a NaN input keeps being a NaN (lamport_safe). */
constexpr uint32_t kEmptyLane = 0xFFFFu;

/* V with every 0xFFFF lane made 0x7FFF (another NaN), so it reads as pushed. */
__device__ __forceinline__ Bf16x8 lamport_safe(const Bf16x8 &v)
{
    uint16_t bits[kPacket];
    memcpy(bits, &v, sizeof(bits));
#pragma unroll
    for (int j = 0; j < kPacket; j++)
        bits[j] = bits[j] == kEmptyLane ? 0x7FFFu : bits[j];
    Bf16x8 out;
    memcpy(&out, bits, sizeof(out));
    return out;
}

/* Polls between two reads of the clock and of the abort word. */
constexpr uint32_t kPollsPerCheck = 1024;
/* The group's error word: kTimedOut | waiting rank << 8 | awaited peer. */
constexpr int32_t kTimedOut = 1 << 16;

__device__ __forceinline__ uint64_t global_ns()
{
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

/* Called every kPollsPerCheck polls of RANK's wait for PEER that began at
 * *START (0: not yet timed): false once the host aborted the group (ABORT),
 * a wait of this group gave up already (ERROR), or this one has lasted past
 * TIMEOUT_NS (then recorded in ERROR for the host, sl_cuda_ar_failed).
 * Inlined where a GEMV waits: a call would make it save the weight loads it
 * has in flight (ptxas: spills); allreduce.cu calls it through a function of
 * its own, not inlined, which keeps its spins small. */
__device__ __forceinline__ bool keep_waiting(uint64_t *start, const int32_t *abort,
                                             int32_t *error, uint64_t timeout_ns, int rank,
                                             int peer)
{
    const uint64_t now = global_ns();
    if (*reinterpret_cast<const volatile int32_t *>(abort) != 0 ||
        *reinterpret_cast<const volatile int32_t *>(error) != 0)
        return false;
    if (*start == 0) {
        *start = now;
        return true;
    }
    if (now - *start <= timeout_ns)
        return true;
    *reinterpret_cast<volatile int32_t *>(error) = kTimedOut | rank << 8 | peer;
    __threadfence_system();
    return false;
}

__device__ __forceinline__ bool has_empty_lane(const uint4 &u)
{
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
    bool empty = false;
#pragma unroll
    for (int i = 0; i < 4; i++)
        empty |= (w[i] & 0xFFFFu) == kEmptyLane || (w[i] >> 16) == kEmptyLane;
    return empty;
}

/* A 16-byte read at L2, where a peer's stores land, never from L1. */
__device__ __forceinline__ uint4 ld_volatile_v4(const void *p)
{
    uint4 v;
    asm volatile("ld.volatile.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p)
                 : "memory");
    return v;
}

/* A 16-byte read at L2 that the compiler may move ahead of other reads
 * (no volatile, no clobber): the first look at a slot, with the reads around
 * it in flight together; a wait re-reads with ld_volatile_v4. */
__device__ __forceinline__ uint4 ld_cg_v4(const void *p)
{
    return __ldcg(reinterpret_cast<const uint4 *>(p));
}

/* The packet a peer pushed into SLOT, once every lane of it has arrived;
 * FIRST: the slot's first read, issued by the caller; KEEP(&start): every
 * kPollsPerCheck polls, keep_waiting() for this wait. Garbage when it gives
 * up. The slot is left as it is. */
template <class Keep>
__device__ __forceinline__ Bf16x8 wait_pushed(const Bf16x8 *slot, uint4 first, Keep &&keep)
{
    uint64_t start = 0;
    uint4 u = first;

    for (uint32_t polls = 1; has_empty_lane(u); polls++) {
        if (polls % kPollsPerCheck == 0 && !keep(&start))
            break;
        u = ld_volatile_v4(slot);
    }
    Bf16x8 v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* The all-reduce's sum of one packet turned into the residual stream's next
 * value, with the roundings of the unfused sequence (sl_cuda_ar_bf16, then
 * activation.cu's add_bias, then rmsnorm.cu's residual add): x = bf16(ACC),
 * x = bf16(x + BIAS) where BIAS (8 floats) is set, z = x + RESIDUAL. So that
 * allreduce.cu's fused norm and the GEMVs that take the sum in their prologue
 * give the same bits. */
__device__ __forceinline__ void residual_sum(const float (&acc)[kPacket], const float *bias,
                                             const Bf16x8 &residual, Bf16x8 &x_out,
                                             Bf16x8 &z_out)
{
    float b[kPacket];
    if (bias != nullptr) {
        const float4 b0 = reinterpret_cast<const float4 *>(bias)[0];
        const float4 b1 = reinterpret_cast<const float4 *>(bias)[1];
        b[0] = b0.x, b[1] = b0.y, b[2] = b0.z, b[3] = b0.w;
        b[4] = b1.x, b[5] = b1.y, b[6] = b1.z, b[7] = b1.w;
    }
#pragma unroll
    for (int k = 0; k < kPacket; k++) {
        x_out.v[k] = to_bf(acc[k]);
        if (bias != nullptr)
            x_out.v[k] = to_bf(to_f(x_out.v[k]) + b[k]);
        z_out.v[k] = rms::add(x_out.v[k], residual.v[k]);
    }
}

} // namespace ar
} // namespace sl

#endif /* SL_GPU_AR_SLOTS_CUH */
