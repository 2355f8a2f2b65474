/*
 * wgmma.cuh - Hopper's warpgroup MMA (wgmma.mma_async, sm_90a) for the
 * kernels that use it: the two shapes they need with A from registers, the
 * shared-memory descriptor, and the fences around them. Only compiled into
 * real instructions where the compiler targets sm_90a (SL_WGMMA); elsewhere
 * the callers compile the kernel bodies out and the host never launches them.
 *
 * Operands in shared memory use the 128-byte swizzle (PTX ISA, "Shared
 * Memory Matrix Layout"): rows of 128 bytes (64 bf16), 16-byte chunk j of
 * row r stored at chunk j ^ (r % 8), in atoms of 8 rows (1 KB, 1024-byte
 * aligned). A tile of ROWS x 128 bf16 is two regions of ROWS such rows (head
 * dims 0-63, 64-127). It is both a K-major operand whose K runs along the
 * row (a K tile for S = Q K^T: stride 1024 bytes between groups of 8 rows, a
 * k-step of 16 a 32-byte step of the start address, the second region from
 * k-step 4) and an MN-major one whose K runs down the rows (a V tile for
 * O = P V, transposed: stride 1024 bytes between groups of 8 rows along K,
 * leading offset one region between the two 64-wide halves of N). Rows
 * written 16 bytes a thread and read by the tensor cores both spread over all
 * banks (docs/PERFORMANCE.md, session 8: the same tiles without the swizzle
 * made 2.6 times the L2 requests and ran 1.2 to 1.6 times slower).
 */
#ifndef SL_GPU_WGMMA_CUH
#define SL_GPU_WGMMA_CUH

#include <stdint.h>

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SL_WGMMA 1 /* this compilation pass emits wgmma */
#endif

namespace sl {
namespace wgmma {

/* Descriptor of an operand at P (shared memory) in the 128-byte swizzle,
 * its atoms 1024-byte aligned (base offset 0); LEAD_BYTES and STRIDE_BYTES
 * as the PTX ISA defines them for the operand's major-ness. */
__device__ __forceinline__ uint64_t desc(const void *p, uint32_t lead_bytes, uint32_t stride_bytes)
{
    constexpr uint64_t kSwizzle128 = 1;
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
    return (uint64_t)((a & 0x3FFFF) >> 4) | (uint64_t)((lead_bytes & 0x3FFFF) >> 4) << 16 |
           (uint64_t)((stride_bytes & 0x3FFFF) >> 4) << 32 | kSwizzle128 << 62;
}

/* What adding BYTES (a multiple of 16) to a descriptor's start address adds
 * to the descriptor (shared memory ends below 256 KB: no carry out). */
__host__ __device__ constexpr uint64_t desc_offset(uint32_t bytes)
{
    return bytes >> 4;
}

#ifdef SL_WGMMA
/* Before the first wgmma of a batch: the registers it reads or accumulates
 * into were written by ordinary instructions. */
__device__ __forceinline__ void fence()
{
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void commit()
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

/* Waits until at most N committed batches of this warpgroup are pending. */
template <int N> __device__ __forceinline__ void wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/* Shared memory written by this thread's ordinary stores or cp.async, made
 * visible to the async proxy that wgmma reads it through (then a barrier). */
__device__ __forceinline__ void fence_proxy_shared()
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* Keeps the compiler from moving reads or writes of an accumulator across
 * the wgmma that owns it until wait() returns. */
template <int R, int C> __device__ __forceinline__ void pin(float (&d)[R][C])
{
#pragma unroll
    for (int i = 0; i < R; i++)
#pragma unroll
        for (int j = 0; j < C; j++)
            asm volatile("" : "+f"(d[i][j])::"memory");
}

/* D [64 x N] (+)= A [64 x 16] B [16 x N], float32 accumulators in the
 * mma.sync C layout repeated over N / 8 (thread t of the warpgroup: rows
 * 16 (t / 32) + (t % 32) / 4 and + 8, columns 2 (t % 4) .. + 1 of each
 * group of 8); A in registers in mma.sync's m16n8k16 A layout, each warp
 * its 16 rows; B through its descriptor, transposed (MN-major) where
 * TRANS_B. ACCUMULATE 0: D = A B. */
template <int TRANS_B>
__device__ __forceinline__ void mma_m64n64k16(float (&d)[32], const uint32_t (&a)[4],
                                              uint64_t b_desc, int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, "
                 "%8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, "
                 "%24, %25, %26, %27, %28, %29, %30, %31"
                 "}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                   "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                   "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate),
                   "n"(TRANS_B));
}

template <int TRANS_B>
__device__ __forceinline__ void mma_m64n128k16(float (&d)[64], const uint32_t (&a)[4],
                                               uint64_t b_desc, int accumulate)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
                 "%0, %1, %2, %3, %4, %5, %6, %7, "
                 "%8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, "
                 "%24, %25, %26, %27, %28, %29, %30, %31, "
                 "%32, %33, %34, %35, %36, %37, %38, %39, "
                 "%40, %41, %42, %43, %44, %45, %46, %47, "
                 "%48, %49, %50, %51, %52, %53, %54, %55, "
                 "%56, %57, %58, %59, %60, %61, %62, %63"
                 "}, {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]),
                   "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),
                   "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
                   "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
                   "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
                   "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]),
                   "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]),
                   "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(accumulate),
                   "n"(TRANS_B));
}

#endif /* SL_WGMMA */

} // namespace wgmma
} // namespace sl

#endif /* SL_GPU_WGMMA_CUH */
