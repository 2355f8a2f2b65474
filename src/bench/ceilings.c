/*
 * ceilings.c - the two numbers every benchmark is judged against, measured
 * on the GPU at hand (METHOD.md: "measure both ceilings once"):
 *
 *   copy bandwidth  a 2 GiB device-to-device cudaMemcpy, bytes read + written
 *                   per second, median of 20 (far beyond the 60 MB L2);
 *   GEMM rate       cuBLAS bf16 x bf16 -> bf16 with float32 accumulation,
 *                   8192 x 8192 x 8192, on random (never zero) data, median
 *                   of 20 after warm-up.
 *
 * CUDA builds only; bench.c has the stub.
 */
#include "config.h"

#include <stdlib.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "bench/bench.h"
#include "core/log.h"
#include "cuda_check.h"
#include "sl_kernels.h"

#define SL_COPY_BYTES ((size_t)2 << 30)
#define SL_GEMM_N 8192
#define SL_REPS 20

static int sl_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static sl_status_t sl_time_copies(void *dst, const void *src, double *gbs_p)
{
    cudaEvent_t ev[SL_REPS + 1];
    float ms[SL_REPS];

    for (int i = 0; i <= SL_REPS; i++)
        SL_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[i]));
    for (int i = 0; i < 3; i++)
        SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, SL_COPY_BYTES, cudaMemcpyDeviceToDevice, 0));
    SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev[0], 0));
    for (int i = 0; i < SL_REPS; i++) {
        SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, SL_COPY_BYTES, cudaMemcpyDeviceToDevice, 0));
        SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev[i + 1], 0));
    }
    SL_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev[SL_REPS]));
    for (int i = 0; i < SL_REPS; i++)
        SL_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]));
    for (int i = 0; i <= SL_REPS; i++)
        (void)cudaEventDestroy(ev[i]);
    qsort(ms, SL_REPS, sizeof(float), sl_cmp_float);
    *gbs_p = 2.0 * (double)SL_COPY_BYTES / (ms[SL_REPS / 2] / 1e3) / 1e9;
    return SL_OK;
}

static sl_status_t sl_time_gemm(cublasHandle_t h, const void *a, const void *b, void *c,
                                double *tflops_p)
{
    const float one = 1.0f, zero = 0.0f;
    const int n = SL_GEMM_N;
    cudaEvent_t ev[SL_REPS + 1];
    float ms[SL_REPS];

    for (int i = 0; i <= SL_REPS; i++)
        SL_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[i]));
    for (int i = 0; i <= SL_REPS + 3; i++) {
        if (i >= 3)
            SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev[i - 3], 0));
        if (i == SL_REPS + 3)
            break;
        cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a,
                                         CUDA_R_16BF, n, b, CUDA_R_16BF, n, &zero, c,
                                         CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT);
        if (st != CUBLAS_STATUS_SUCCESS) {
            sl_error("cublasGemmEx 8192^3: %s", cublasGetStatusString(st));
            return SL_ERR_CUDA;
        }
    }
    SL_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev[SL_REPS]));
    for (int i = 0; i < SL_REPS; i++)
        SL_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]));
    for (int i = 0; i <= SL_REPS; i++)
        (void)cudaEventDestroy(ev[i]);
    qsort(ms, SL_REPS, sizeof(float), sl_cmp_float);
    *tflops_p = 2.0 * n * (double)n * n / (ms[SL_REPS / 2] / 1e3) / 1e12;
    return SL_OK;
}

sl_status_t sl_bench_ceilings(int device, double *copy_gbs_p, double *gemm_tflops_p)
{
    const size_t mat = (size_t)SL_GEMM_N * SL_GEMM_N;
    void *src = NULL, *dst = NULL, *a = NULL, *b = NULL, *c = NULL;
    cublasHandle_t h = NULL;
    sl_status_t s = SL_ERR_CUDA;

    SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
    if (cudaMalloc(&src, SL_COPY_BYTES) != cudaSuccess ||
        cudaMalloc(&dst, SL_COPY_BYTES) != cudaSuccess || cudaMalloc(&a, mat * 2) != cudaSuccess ||
        cudaMalloc(&b, mat * 2) != cudaSuccess || cudaMalloc(&c, mat * 2) != cudaSuccess) {
        sl_error("bench: cudaMalloc for the ceiling measurements failed");
        goto out;
    }
    /* random bf16 (the dummy-weight generator), never zeros */
    if (sl_cuda_random_fill_bf16(src, SL_COPY_BYTES / 2 / 8192, 8192, 8192, 1, 1, 1.0f, 0, 0,
                                 8192, 0) != SL_OK ||
        sl_cuda_random_fill_bf16(a, SL_GEMM_N, SL_GEMM_N, SL_GEMM_N, 2, 0, 90.5f, 0, 0,
                                 SL_GEMM_N, 0) != SL_OK ||
        sl_cuda_random_fill_bf16(b, SL_GEMM_N, SL_GEMM_N, SL_GEMM_N, 3, 0, 90.5f, 0, 0,
                                 SL_GEMM_N, 0) != SL_OK)
        goto out;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        sl_error("bench: cublasCreate failed");
        goto out;
    }
    if ((s = sl_time_copies(dst, src, copy_gbs_p)) != SL_OK ||
        (s = sl_time_gemm(h, a, b, c, gemm_tflops_p)) != SL_OK)
        goto out;
    s = SL_OK;
out:
    if (h != NULL)
        (void)cublasDestroy(h);
    void *bufs[] = {src, dst, a, b, c};
    for (int i = 0; i < 5; i++)
        if (bufs[i] != NULL)
            (void)cudaFree(bufs[i]);
    return s;
}
