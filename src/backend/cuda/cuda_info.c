/* cuda_info.c - see cuda_info.h. */
#include "config.h"

#include "backend/cuda/cuda_info.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

/* CUDA encodes versions as 1000 * major + 10 * minor. */
static void sl_print_cuda_version(FILE *out, const char *what, int v)
{
    fprintf(out, "  %-10s  %d.%d\n", what, v / 1000, (v % 1000) / 10);
}

void sl_cuda_report(FILE *out)
{
    int runtime = 0, driver = 0, devices = 0, nccl = 0;
    cudaError_t err;

    fprintf(out, "CUDA: built with nvcc %s for %s\n", SL_NVCC_VERSION, SL_CUDA_ARCHS);
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
        sl_print_cuda_version(out, "runtime", runtime);
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
        sl_print_cuda_version(out, "driver", driver);
    else
        fprintf(out, "  driver      none (no NVIDIA driver on this machine)\n");
    fprintf(out, "  cuBLAS      %d.%d.%d (headers)\n", CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR,
            CUBLAS_VER_PATCH);
    if (ncclGetVersion(&nccl) == ncclSuccess)
        fprintf(out, "  NCCL        %d.%d.%d\n", nccl / 10000, (nccl / 100) % 100, nccl % 100);
    if (driver > 0) {
        err = cudaGetDeviceCount(&devices);
        if (err == cudaSuccess)
            fprintf(out, "  GPUs        %d visible\n", devices);
        else
            fprintf(out, "  GPUs        none usable (%s)\n", cudaGetErrorString(err));
    }
}
