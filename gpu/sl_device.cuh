/*
 * sl_device.cuh - device-side helpers shared by the kernels in gpu/: bf16
 * conversion, 16-byte packets, warp and block reductions, launch checks.
 *
 * Only .cu files include this; the C side sees gpu/sl_kernels.h.
 */
#ifndef SL_GPU_SL_DEVICE_CUH
#define SL_GPU_SL_DEVICE_CUH

#include <stdint.h>

#include <utility>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "cuda_check.h"

namespace sl {

constexpr int kWarp = 32;

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ bf16 to_bf(float v) { return __float2bfloat16_rn(v); }

/* Eight bf16 moved with one 16-byte load or store. */
struct alignas(16) Bf16x8 {
    bf16 v[8];
};

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* Sum over a block of NTHREADS (<= 1024) threads, returned to every thread:
 * each warp's xor tree, then warp 0's over the warp sums (zeros past the
 * last warp). Emulated in a smaller block: thread t holds the V values of
 * the threads t + i * blockDim.x (whole warps; values of threads >= NTHREADS
 * are not read), and the result is the same bits as the real block's. A
 * barrier: every thread must call it. Callable again right after it returns
 * (the next call's writes come after this call's second barrier, which every
 * reader of the shared words has passed). */
template <int V>
__device__ __forceinline__ float block_sum(const float (&v)[V], int nthreads)
{
    __shared__ float warp_sums[1024 / kWarp];
    __shared__ float total;
    const int lane = threadIdx.x % kWarp;
    const int warp = threadIdx.x / kWarp;
    const int nwarps = (nthreads + kWarp - 1) / kWarp;

#pragma unroll
    for (int i = 0; i < V; i++) {
        const float s = warp_sum(v[i]);
        const int w = warp + i * (int)(blockDim.x / kWarp);
        if (lane == 0 && w < nwarps)
            warp_sums[w] = s;
    }
    __syncthreads();
    if (warp == 0) {
        float s = lane < nwarps ? warp_sums[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0)
            total = s;
    }
    __syncthreads();
    return total;
}

/* The sum over the block (at most 1024 threads) of V, to every thread. */
__device__ __forceinline__ float block_sum(float v)
{
    const float vs[1] = {v};
    return block_sum<1>(vs, (int)blockDim.x);
}

/* D += A B on the tensor cores, m16n8k16, bf16 inputs, float32 accumulators. Fragment layouts
 * (PTX ISA, "mma.m16n8k16"): with g = lane / 4 and c = lane % 4,
 *   a0 = A[g][2c..2c+1], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 = A[g+8][2c+8..]
 *   b0 = B[2c..2c+1][g], b1 = B[2c+8..2c+9][g]
 *   d0,d1 = D[g][2c..2c+1], d2,d3 = D[g+8][2c..2c+1]
 * (pairs packed low element first). */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* SwiGLU's gate: silu(g) = g / (1 + exp(-g)); the one definition, so the
 * fused GEMV (gemv.cu) and silu_mul (activation.cu) round alike. */
__device__ __forceinline__ float silu(float g)
{
    return g / (1.0f + expf(-g));
}

/*
 * Programmatic dependent launch (Hopper): a kernel started by sl::launch()
 * may be scheduled while the kernel before it in the stream is finishing,
 * which hides most of the gap between the ~10 small kernels of a decode
 * layer. Such a kernel must call pdl_wait() before anything else: it returns
 * once the previous kernel has completed and its writes are visible. Every
 * kernel launched through sl::launch() calls it first, even one that reads
 * nothing of its predecessor, so that "completed" stays transitive down the
 * stream.
 */
__device__ __forceinline__ void pdl_wait()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* A yes or no about the current device, asked of ASK(device) the first time
 * and then read from ANSWERS (one per device; zero-initialised storage, so a
 * namespace-scope array): false where the current device cannot be named.
 * For the questions the host asks at every launch (launch.cu). */
constexpr int kMaxDevices = 64;
bool device_answer(int (&answers)[kMaxDevices], bool (*ask)(int device));

/* Whether launches on the current device use programmatic dependent launch:
 * the device and this build's kernels are sm_90 or newer (so pdl_wait() is
 * compiled in), and SLINFER_PDL is not 0. Cached per device (launch.cu). */
bool pdl_enabled();

/* KERNEL<<<GRID, BLOCK, SMEM, STREAM>>>(ARGS...), with programmatic
 * dependent launch where pdl_enabled(). Launch errors are returned and also
 * left for cudaGetLastError() (SL_CUDA_CHECK_LAUNCH). */
template <typename... Params, typename... Args>
inline cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                          cudaStream_t stream, Args &&...args)
{
    cudaLaunchAttribute attr[1];
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    if (pdl_enabled()) {
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

/* Blocks of KERNEL (THREADS threads a block, SMEM bytes of dynamic shared
 * memory) an SM of the current device holds, the kernel's shared-memory
 * opt-in set first where SMEM passes the default 48 KB; 0 where the runtime
 * cannot say. */
template <class K> int blocks_per_sm(K kernel, int threads, size_t smem)
{
    int n = 0;
    if ((smem > 48 * 1024 && cudaFuncSetAttribute(kernel,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  (int)smem) != cudaSuccess) ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, smem) !=
            cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

inline bool aligned16(const void *p)
{
    return p == nullptr || (reinterpret_cast<uintptr_t>(p) % 16) == 0;
}

inline unsigned blocks_for(int64_t n, int per_block)
{
    return (unsigned)((n + per_block - 1) / per_block);
}

} // namespace sl

/* After a launch: log the launch error (bad configuration, no kernel image
 * for this GPU) under the launcher's name and return SL_ERR_CUDA. */
#define SL_CUDA_CHECK_LAUNCH(NAME)                                                         \
    do {                                                                                   \
        cudaError_t sl_launch_err_ = cudaGetLastError();                                   \
        if (sl_launch_err_ != cudaSuccess) {                                               \
            sl_error("%s: launch failed: %s (%s)", NAME, cudaGetErrorName(sl_launch_err_), \
                     cudaGetErrorString(sl_launch_err_));                                  \
            return SL_ERR_CUDA;                                                            \
        }                                                                                  \
    } while (0)

#endif /* SL_GPU_SL_DEVICE_CUH */
