/*
 * ar_slots.cuh - the layout of a one-shot all-reduce rank buffer and the
 * Lamport packet rules, shared by allreduce.cu (the protocol) and gemv.cu
 * (a projection that pushes its rows into the peers' slots itself, before
 * the all-reduce kernel that sums them: sl_cuda_gemv_push_bf16).
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

} // namespace ar
} // namespace sl

#endif /* SL_GPU_AR_SLOTS_CUH */
