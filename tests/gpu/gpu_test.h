/*
 * gpu_test.h - shared helpers of the GPU tests: skip (exit 77) where no GPU
 * is usable, abort the test on any failed CUDA call, seeded random inputs,
 * and a backtrace on a crash (the GPU machine has no debugger: the offsets
 * go through addr2line against the unstripped binary here).
 */
#ifndef SL_TESTS_GPU_TEST_H
#define SL_TESTS_GPU_TEST_H

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#define SL_TEST_SKIP 77

/* Fail the test, naming the call, on any CUDA error. */
#define GPU_CHECK(call)                                                             \
    do {                                                                            \
        cudaError_t gpu_check_err_ = (call);                                        \
        if (gpu_check_err_ != cudaSuccess) {                                        \
            fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call,      \
                    cudaGetErrorString(gpu_check_err_));                            \
            exit(EXIT_FAILURE);                                                     \
        }                                                                           \
    } while (0)

/* Prints the stack of a crashing test to stderr (async-signal-safe calls
 * only), then dies of the signal as it would have. */
static void gpu_test_crash(int sig)
{
    static const char msg[] = "FAIL: crashed; backtrace (addr2line -e BINARY OFFSET):\n";
    void *frames[64];
    int n = backtrace(frames, 64);

    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Exit 77 with the reason when this machine has no usable GPU. */
static inline void gpu_test_require_device(void)
{
    int count = 0;
    /* Line by line: what a test printed survives its crash. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGSEGV, gpu_test_crash);
    signal(SIGBUS, gpu_test_crash);
    signal(SIGFPE, gpu_test_crash);
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        printf("SKIP: no usable GPU (%s)\n",
               err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
        exit(SL_TEST_SKIP);
    }
    struct cudaDeviceProp prop;
    GPU_CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("device 0: %s, sm_%d%d, %zu MiB\n", prop.name, prop.major, prop.minor,
           prop.totalGlobalMem >> 20);
}

/* xorshift64*: reproducible inputs from a printed seed. */
static inline double gpu_test_uniform(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

#endif /* SL_TESTS_GPU_TEST_H */
