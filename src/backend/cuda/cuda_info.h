/* cuda_info.h - versions of the CUDA stack this binary was built with and
 * runs with, for `slinfer --version`. Built only with CUDA. */
#ifndef SL_BACKEND_CUDA_INFO_H
#define SL_BACKEND_CUDA_INFO_H

#include <stdio.h>

/* Prints nvcc, CUDA runtime, driver, cuBLAS and NCCL versions and the
 * compiled architectures; says so plainly when no driver or GPU is there. */
void sl_cuda_report(FILE *out);

#endif /* SL_BACKEND_CUDA_INFO_H */
