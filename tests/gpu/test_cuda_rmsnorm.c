/*
 * test_cuda_rmsnorm.c - the CUDA RMSNorm (gpu/rmsnorm.cu) against its C twin
 * (src/backend/cpu/rmsnorm.c) on fresh random inputs, float32 and bf16,
 * vector and scalar paths, with and without the fused residual, in place.
 *
 * Outputs are poisoned with NaN before each launch, so an element the kernel
 * did not write fails the comparison. Exit 77 without a GPU.
 *
 *   test_cuda_rmsnorm           the test
 *   test_cuda_rmsnorm --bench   also time large shapes (GB/s; not a test)
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/rmsnorm.h"
#include "core/bf16.h"
#include "gpu_test.h"
#include "sl_kernels.h"

typedef struct {
    int rows, dim;
    int residual; /* fuse the residual add      */
    int in_place; /* out aliases x              */
    int offset;   /* elements: misaligns to force the scalar path */
} shape_t;

static const shape_t shapes[] = {
    {1, 64, 1, 0, 0},      {7, 4096, 1, 0, 0},   {64, 5120, 1, 0, 0},
    {33, 8192, 1, 1, 0},   {3, 14336, 0, 0, 0},  {128, 896, 1, 0, 0},
    {5, 1000, 1, 0, 0},    {2, 33, 1, 0, 0},     {9, 4096, 1, 0, 1},
    {17, 2048, 0, 1, 0},   {1, 16384, 1, 0, 0},  {300, 128, 1, 1, 0},
};
#define NUM_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

static int failures;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "FAIL: out of host memory (%zu bytes)\n", n);
        exit(EXIT_FAILURE);
    }
    return p;
}

/* ‖a − b‖ / ‖b‖ and the largest |a − b| / (|b| + floor); NaN propagates. */
static void compare(const float *got, const float *want, size_t n, double floor,
                    double *rel_norm_p, double *max_rel_p)
{
    double num = 0, den = 0, max_rel = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        double r = fabs(d) / (fabs((double)want[i]) + floor);
        if (isnan(got[i]) || isnan(r))
            r = INFINITY;
        num += d * d;
        den += (double)want[i] * want[i];
        max_rel = r > max_rel ? r : max_rel;
    }
    *rel_norm_p = sqrt(num / (den > 0 ? den : 1));
    *max_rel_p = max_rel;
}

static void report(const char *dtype, const shape_t *s, double rel_norm, double max_rel,
                   double limit, int residual_ok)
{
    int ok = rel_norm <= limit && max_rel <= 8 * limit && residual_ok;
    printf("%-4s %-5s rows=%-4d dim=%-6d residual=%d in_place=%d offset=%d  "
           "rel_l2=%.2e max_rel=%.2e residual=%s\n",
           ok ? "ok" : "FAIL", dtype, s->rows, s->dim, s->residual, s->in_place, s->offset,
           rel_norm, max_rel, residual_ok ? "exact" : "WRONG");
    failures += !ok;
}

static void check_f32(const shape_t *s, uint64_t *rng)
{
    const size_t n = (size_t)s->rows * s->dim;
    const size_t alloc = n + (size_t)s->offset;
    float *x = xmalloc(n * sizeof(float)), *res = xmalloc(n * sizeof(float));
    float *w = xmalloc((size_t)s->dim * sizeof(float));
    float *want = xmalloc(n * sizeof(float)), *got = xmalloc(n * sizeof(float));
    float *got_res = xmalloc(n * sizeof(float));
    float *d_x, *d_res, *d_w, *d_out;

    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(gpu_test_uniform(rng) * 4 - 2);
        res[i] = (float)(gpu_test_uniform(rng) * 8 - 4);
    }
    for (int i = 0; i < s->dim; i++)
        w[i] = (float)(gpu_test_uniform(rng) * 2 - 0.5);

    GPU_CHECK(cudaMalloc((void **)&d_x, alloc * sizeof(float)));
    GPU_CHECK(cudaMalloc((void **)&d_res, alloc * sizeof(float)));
    GPU_CHECK(cudaMalloc((void **)&d_w, ((size_t)s->dim + s->offset) * sizeof(float)));
    GPU_CHECK(cudaMalloc((void **)&d_out, alloc * sizeof(float)));
    float *dx = d_x + s->offset, *dres = d_res + s->offset, *dw = d_w + s->offset;
    float *dout = s->in_place ? dx : d_out + s->offset;
    GPU_CHECK(cudaMemcpy(dx, x, n * sizeof(float), cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(dres, res, n * sizeof(float), cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(dw, w, (size_t)s->dim * sizeof(float), cudaMemcpyHostToDevice));
    if (!s->in_place)
        GPU_CHECK(cudaMemset(d_out, 0xff, alloc * sizeof(float))); /* NaN */

    if (sl_cuda_rmsnorm_f32(dout, dx, s->residual ? dres : NULL, dw, s->rows, s->dim, 1e-5f,
                            0) != SL_OK)
        exit(EXIT_FAILURE);
    GPU_CHECK(cudaDeviceSynchronize());
    GPU_CHECK(cudaMemcpy(got, dout, n * sizeof(float), cudaMemcpyDeviceToHost));
    GPU_CHECK(cudaMemcpy(got_res, dres, n * sizeof(float), cudaMemcpyDeviceToHost));

    sl_cpu_rmsnorm(want, x, s->residual ? res : NULL, w, (size_t)s->rows, (size_t)s->dim,
                   1e-5f);
    /* fp32 adds are exact-same on both sides: the residual must match bitwise */
    int residual_ok = memcmp(got_res, res, n * sizeof(float)) == 0;
    double rel_norm, max_rel;
    compare(got, want, n, 1e-3, &rel_norm, &max_rel);
    report("f32", s, rel_norm, max_rel, 1e-6, residual_ok);

    GPU_CHECK(cudaFree(d_x));
    GPU_CHECK(cudaFree(d_res));
    GPU_CHECK(cudaFree(d_w));
    GPU_CHECK(cudaFree(d_out));
    free(x), free(res), free(w), free(want), free(got), free(got_res);
}

static void check_bf16(const shape_t *s, uint64_t *rng)
{
    const size_t n = (size_t)s->rows * s->dim;
    const size_t alloc = n + (size_t)s->offset;
    sl_bf16_t *x = xmalloc(n * 2), *res = xmalloc(n * 2), *w = xmalloc((size_t)s->dim * 2);
    sl_bf16_t *got = xmalloc(n * 2), *got_res = xmalloc(n * 2);
    float *z = xmalloc(n * sizeof(float)), *wf = xmalloc((size_t)s->dim * sizeof(float));
    float *want = xmalloc(n * sizeof(float)), *gotf = xmalloc(n * sizeof(float));
    sl_bf16_t *d_x, *d_res, *d_w, *d_out;

    for (size_t i = 0; i < n; i++) {
        x[i] = sl_float_to_bf16((float)(gpu_test_uniform(rng) * 4 - 2));
        res[i] = sl_float_to_bf16((float)(gpu_test_uniform(rng) * 8 - 4));
    }
    for (int i = 0; i < s->dim; i++) {
        w[i] = sl_float_to_bf16((float)(gpu_test_uniform(rng) * 2 - 0.5));
        wf[i] = sl_bf16_to_float(w[i]);
    }

    GPU_CHECK(cudaMalloc((void **)&d_x, alloc * 2));
    GPU_CHECK(cudaMalloc((void **)&d_res, alloc * 2));
    GPU_CHECK(cudaMalloc((void **)&d_w, ((size_t)s->dim + s->offset) * 2));
    GPU_CHECK(cudaMalloc((void **)&d_out, alloc * 2));
    sl_bf16_t *dx = d_x + s->offset, *dres = d_res + s->offset, *dw = d_w + s->offset;
    sl_bf16_t *dout = s->in_place ? dx : d_out + s->offset;
    GPU_CHECK(cudaMemcpy(dx, x, n * 2, cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(dres, res, n * 2, cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(dw, w, (size_t)s->dim * 2, cudaMemcpyHostToDevice));
    if (!s->in_place)
        GPU_CHECK(cudaMemset(d_out, 0xff, alloc * 2)); /* NaN */

    if (sl_cuda_rmsnorm_bf16(dout, dx, s->residual ? dres : NULL, dw, s->rows, s->dim, 1e-5f,
                             0) != SL_OK)
        exit(EXIT_FAILURE);
    GPU_CHECK(cudaDeviceSynchronize());
    GPU_CHECK(cudaMemcpy(got, dout, n * 2, cudaMemcpyDeviceToHost));
    GPU_CHECK(cudaMemcpy(got_res, dres, n * 2, cudaMemcpyDeviceToHost));

    /* The stored residual is bf16(x + res), exactly; the C twin then
     * normalises it in float32 without the kernel's two output roundings. */
    int residual_ok = 1;
    for (size_t i = 0; i < n; i++) {
        float sum = sl_bf16_to_float(x[i]) + (s->residual ? sl_bf16_to_float(res[i]) : 0.0f);
        sl_bf16_t rounded = sl_float_to_bf16(sum);
        z[i] = sl_bf16_to_float(rounded);
        if (s->residual && got_res[i] != rounded)
            residual_ok = 0;
        gotf[i] = sl_bf16_to_float(got[i]);
    }
    sl_cpu_rmsnorm(want, z, NULL, wf, (size_t)s->rows, (size_t)s->dim, 1e-5f);
    double rel_norm, max_rel;
    compare(gotf, want, n, 1e-2, &rel_norm, &max_rel);
    /* two bf16 roundings of the output: at most 2 * 2^-9 relative each */
    report("bf16", s, rel_norm, max_rel, 4e-3, residual_ok);

    GPU_CHECK(cudaFree(d_x));
    GPU_CHECK(cudaFree(d_res));
    GPU_CHECK(cudaFree(d_w));
    GPU_CHECK(cudaFree(d_out));
    free(x), free(res), free(w), free(got), free(got_res), free(z), free(wf), free(want),
        free(gotf);
}

/* Effective bandwidth of the bf16 kernel: x and residual read, residual and
 * out written, once each (weight stays in L2). Information, not a test. */
static void bench_bf16(int rows, int dim)
{
    const size_t n = (size_t)rows * dim;
    const int reps = 50;
    sl_bf16_t *d_x, *d_res, *d_w, *d_out;
    cudaEvent_t start, stop;
    float ms = 0;

    GPU_CHECK(cudaMalloc((void **)&d_x, n * 2));
    GPU_CHECK(cudaMalloc((void **)&d_res, n * 2));
    GPU_CHECK(cudaMalloc((void **)&d_w, (size_t)dim * 2));
    GPU_CHECK(cudaMalloc((void **)&d_out, n * 2));
    /* 0x3c00 is bf16 0.0078125: small, non-zero, and stays finite when the
     * residual accumulates over the repetitions */
    GPU_CHECK(cudaMemset(d_x, 0x3c, n * 2));
    GPU_CHECK(cudaMemset(d_res, 0x3c, n * 2));
    GPU_CHECK(cudaMemset(d_w, 0x3c, (size_t)dim * 2));
    GPU_CHECK(cudaEventCreate(&start));
    GPU_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < 5; i++)
        if (sl_cuda_rmsnorm_bf16(d_out, d_x, d_res, d_w, rows, dim, 1e-5f, 0) != SL_OK)
            exit(EXIT_FAILURE);
    GPU_CHECK(cudaEventRecord(start, 0));
    for (int i = 0; i < reps; i++)
        if (sl_cuda_rmsnorm_bf16(d_out, d_x, d_res, d_w, rows, dim, 1e-5f, 0) != SL_OK)
            exit(EXIT_FAILURE);
    GPU_CHECK(cudaEventRecord(stop, 0));
    GPU_CHECK(cudaEventSynchronize(stop));
    GPU_CHECK(cudaEventElapsedTime(&ms, start, stop));
    double seconds = ms / 1e3 / reps;
    printf("bench bf16 rows=%-6d dim=%-6d %8.2f us  %7.1f GB/s\n", rows, dim, seconds * 1e6,
           4.0 * n * 2 / seconds / 1e9);
    GPU_CHECK(cudaEventDestroy(start));
    GPU_CHECK(cudaEventDestroy(stop));
    GPU_CHECK(cudaFree(d_x));
    GPU_CHECK(cudaFree(d_res));
    GPU_CHECK(cudaFree(d_w));
    GPU_CHECK(cudaFree(d_out));
}

int main(int argc, char **argv)
{
    uint64_t seed = (uint64_t)time(NULL) | 1;
    const char *env_seed = getenv("SLINFER_TEST_SEED");

    gpu_test_require_device();
    if (env_seed != NULL)
        seed = strtoull(env_seed, NULL, 0) | 1;
    printf("seed %llu (set SLINFER_TEST_SEED to repeat)\n", (unsigned long long)seed);

    uint64_t rng = seed;
    for (size_t i = 0; i < NUM_SHAPES; i++) {
        check_f32(&shapes[i], &rng);
        check_bf16(&shapes[i], &rng);
    }

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench_bf16(1, 4096);
        bench_bf16(256, 4096);
        bench_bf16(4096, 8192);
        bench_bf16(16384, 8192);
    }
    printf("%d passed, %d failed\n", (int)(2 * NUM_SHAPES) - failures, failures);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
