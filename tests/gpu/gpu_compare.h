/*
 * gpu_compare.h - helpers of the CUDA kernel and backend tests: host
 * allocation that cannot fail silently, random bf16 arrays, device copies,
 * and the comparison every test reports (relative L2 error ||got - want|| /
 * ||want||, largest element error, NaN = failure).
 */
#ifndef SL_TESTS_GPU_COMPARE_H
#define SL_TESTS_GPU_COMPARE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "core/bf16.h"
#include "gpu_test.h"

static int gc_failures, gc_checks;

static inline void *gc_malloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory (%zu bytes)\n", n);
        exit(EXIT_FAILURE);
    }
    return p;
}

static inline void *gc_device(size_t bytes)
{
    void *p = NULL;
    GPU_CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 16));
    /* 0xff bytes: NaN in bf16 and float32, so unwritten outputs fail */
    GPU_CHECK(cudaMemset(p, 0xff, bytes > 0 ? bytes : 16));
    return p;
}

static inline void *gc_upload(const void *host, size_t bytes)
{
    void *p = gc_device(bytes);
    GPU_CHECK(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    return p;
}

static inline void gc_download(void *host, const void *dev, size_t bytes)
{
    GPU_CHECK(cudaDeviceSynchronize());
    GPU_CHECK(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
}

/* Uniform in [lo, hi), rounded to bf16; FLOATS (may be NULL) gets the
 * rounded values as float32. */
static inline void gc_random_bf16(uint64_t *rng, sl_bf16_t *out, float *floats, size_t n,
                                  double lo, double hi)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = sl_float_to_bf16((float)(lo + (hi - lo) * gpu_test_uniform(rng)));
        if (floats != NULL)
            floats[i] = sl_bf16_to_float(out[i]);
    }
}

static inline void gc_bf16_to_float(float *out, const sl_bf16_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = sl_bf16_to_float(in[i]);
}

/* ||got - want|| / ||want|| and max |got - want| / (max |want|); NaN -> inf. */
static inline double gc_rel_l2(const float *got, const float *want, size_t n, double *max_p)
{
    double num = 0, den = 0, maxd = 0, maxw = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        if (isnan(got[i]) || isnan(want[i]) || isinf(got[i]))
            return *max_p = INFINITY, INFINITY;
        num += d * d;
        den += (double)want[i] * want[i];
        maxd = fabs(d) > maxd ? fabs(d) : maxd;
        maxw = fabs(want[i]) > maxw ? fabs(want[i]) : maxw;
    }
    *max_p = maxd / (maxw > 0 ? maxw : 1);
    return sqrt(num / (den > 0 ? den : 1));
}

/* Prints one result line and counts it. */
static inline int gc_report(const char *what, double rel, double max_rel, double limit)
{
    int ok = rel <= limit && max_rel <= 10 * limit;
    printf("%-4s %-58s rel_l2=%.2e max=%.2e (limit %.0e)\n", ok ? "ok" : "FAIL", what, rel,
           max_rel, limit);
    gc_checks++;
    gc_failures += !ok;
    return ok;
}

static inline uint64_t gc_seed(void)
{
    const char *env = getenv("SLINFER_TEST_SEED");
    uint64_t seed = env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    seed |= 1;
    printf("seed %llu (set SLINFER_TEST_SEED to repeat)\n", (unsigned long long)seed);
    return seed;
}

static inline int gc_finish(void)
{
    printf("%d passed, %d failed\n", gc_checks - gc_failures, gc_failures);
    return gc_failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* SL_TESTS_GPU_COMPARE_H */
