/*
 * test_cuda_allreduce.c - the one-shot all-reduce over peer memory
 * (gpu/allreduce.cu) on 2..all GPUs of this machine, driven like the CUDA
 * backend drives it: one thread per GPU, each on its own non-blocking stream.
 *
 * For every TP size whose GPUs all have peer access:
 *   - sizes from 1 element to 1 MB, odd ones and ones not a multiple of 8
 *     elements among them, random bf16 inputs over a wide range of
 *     magnitudes: the result must equal the float32 sum in rank order
 *     rounded to bf16, computed here (at most 1 bf16 ulp apart; the kernel is
 *     expected to be exact), be bitwise the same on every rank, be the same
 *     in place, and lie within NCCL's rounding of NCCL's result
 *     (|custom - nccl| <= tp * 2^-8 * sum |x|: NCCL rounds each partial sum);
 *   - 1000 iterations back to back of three all-reduces of different sizes
 *     (so different grids: the epoch and flag logic), each iteration on other
 *     inputs (three input sets rotated, so two calls of the same parity never
 *     see the same data), every output kept and checked; then the same three
 *     captured in one CUDA graph per rank, replayed 1000 times with the
 *     inputs changed and the outputs poisoned between replays; then eager
 *     calls again after the replays;
 *   - the hang protection: a kernel whose peer never comes gives up after the
 *     group's timeout and names the peer; sl_cuda_ar_abort releases it early;
 *   - the all-reduce fused with bias + residual add + RMSNorm
 *     (sl_cuda_ar_rmsnorm_bf16) against the unfused sequence (the all-reduce,
 *     add_bias, rmsnorm kernels) on the same inputs: x, residual and xn
 *     bitwise the same, on every rank, x and residual also exactly the host's
 *     sums, for 1, 2, 7 and 64 rows (a zero row among them) of 128, 4096,
 *     5120 and 8192 elements (blocks of 16 packets, 512, 640 and 1024 threads
 *     as rmsnorm.cu launches them), with and without bias; then 200
 *     iterations of two fused calls around a plain all-reduce, eager, replayed
 *     in a graph with the inputs changed between replays, and eager again;
 *   - the same (up to 8 rows, Lamport) with x made by a GEMV that pushes it
 *     to the peers itself (sl_cuda_gemv_push_bf16, x = x_in . I^T: the same
 *     bits) and the fused kernel told so: the same results, bitwise.
 * Outputs start as NaN, so an element the kernel did not write fails.
 * (Over 800 lines: the fused kernel's tests need this file's group harness.)
 *
 *   test_cuda_allreduce            the test (exit 77 with fewer than 2 GPUs)
 *   test_cuda_allreduce --quick    TP 2 only, fewer sizes and iterations
 *                                  (for compute-sanitizer)
 *   test_cuda_allreduce --bench    also latency per size, custom vs NCCL,
 *                                  eager and inside a graph, and the fused
 *                                  all-reduce + RMSNorm vs its two kernels
 *                                  (not a test)
 *   test_cuda_allreduce --tp N     only TP N
 *   test_cuda_allreduce --protocol barrier|lamport   only that protocol
 *                                  (default: all of the above for both)
 */
#include "config.h"

#include <pthread.h>
#include <unistd.h>

#include <nccl.h>

#include "gpu_compare.h"
#include "sl_kernels.h"

#define MAX_TP SL_CUDA_AR_MAX_RANKS
#define MAX_ELEMS ((size_t)512 << 10) /* 1 MB of bf16: the largest size tested */
#define GROUP_TIMEOUT_S 30.0          /* a broken barrier fails the test, never hangs it */

#define NCCL_CHECK(call)                                                                  \
    do {                                                                                  \
        ncclResult_t nccl_check_err_ = (call);                                            \
        if (nccl_check_err_ != ncclSuccess) {                                             \
            fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call,            \
                    ncclGetErrorString(nccl_check_err_));                                 \
            exit(EXIT_FAILURE);                                                           \
        }                                                                                 \
    } while (0)

typedef struct group group_t;
typedef struct rank rank_t;
typedef void (*rank_fn_t)(rank_t *r, void *arg);

struct rank {
    group_t *g;
    int rank;
    cudaStream_t stream;
    rank_fn_t fn;
    void *arg;
};

struct group {
    int tp;
    sl_cuda_ar_t *ar;
    ncclComm_t nccl[MAX_TP];
    rank_t ranks[MAX_TP];
    pthread_barrier_t barrier;
};

static int quick;
static sl_cuda_ar_protocol_t protocol; /* of the groups under test */

static const char *proto_name(void)
{
    return protocol == SL_CUDA_AR_LAMPORT ? "lamport" : "barrier";
}

/* ---- the group: one thread per GPU, as in the backend --------------------------- */

static void *rank_main(void *p)
{
    rank_t *r = p;
    GPU_CHECK(cudaSetDevice(r->rank));
    r->fn(r, r->arg);
    return NULL;
}

/* Runs FN(rank, ARG) on every rank's thread at once and waits for all. */
static void on_ranks(group_t *g, rank_fn_t fn, void *arg)
{
    pthread_t t[MAX_TP];
    for (int i = 0; i < g->tp; i++) {
        g->ranks[i].fn = fn;
        g->ranks[i].arg = arg;
        if (pthread_create(&t[i], NULL, rank_main, &g->ranks[i]) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            exit(EXIT_FAILURE);
        }
    }
    for (int i = 0; i < g->tp; i++)
        pthread_join(t[i], NULL);
}

static void ar_call(rank_t *r, const void *in, void *out, size_t n)
{
    if (sl_cuda_ar_bf16(r->g->ar, r->rank, in, out, n, r->stream) != SL_OK) {
        fprintf(stderr, "FAIL: sl_cuda_ar_bf16 (rank %d, %zu elements)\n", r->rank, n);
        exit(EXIT_FAILURE);
    }
}

static void expect_no_failure(group_t *g, const char *what)
{
    int waiter, peer;
    if (sl_cuda_ar_failed(g->ar, &waiter, &peer)) {
        printf("FAIL %s tp=%d %s: rank %d gave up waiting for rank %d\n", proto_name(), g->tp,
               what, waiter, peer);
        gc_failures++;
    }
}

/* GPUs 0..tp-1, or 0 when some pair has no peer access. */
static int group_open(group_t *g, int tp, size_t max_bytes, double timeout_s)
{
    int devs[MAX_TP], p2p = 0;

    memset(g, 0, sizeof(*g));
    g->tp = tp;
    for (int i = 0; i < tp; i++)
        devs[i] = i;
    if (sl_cuda_ar_p2p_ok(devs, tp, &p2p) != SL_OK)
        exit(EXIT_FAILURE);
    if (!p2p)
        return 0;
    NCCL_CHECK(ncclCommInitAll(g->nccl, tp, devs));
    if (sl_cuda_ar_create(devs, tp, max_bytes, timeout_s, protocol, &g->ar) != SL_OK)
        exit(EXIT_FAILURE);
    for (int i = 0; i < tp; i++) {
        g->ranks[i].g = g;
        g->ranks[i].rank = i;
        GPU_CHECK(cudaSetDevice(i));
        GPU_CHECK(cudaStreamCreateWithFlags(&g->ranks[i].stream, cudaStreamNonBlocking));
    }
    GPU_CHECK(cudaSetDevice(0));
    pthread_barrier_init(&g->barrier, NULL, (unsigned)tp);
    return 1;
}

static void group_close(group_t *g)
{
    for (int i = 0; i < g->tp; i++) {
        GPU_CHECK(cudaSetDevice(i));
        GPU_CHECK(cudaStreamSynchronize(g->ranks[i].stream));
        GPU_CHECK(cudaStreamDestroy(g->ranks[i].stream));
        NCCL_CHECK(ncclCommDestroy(g->nccl[i]));
    }
    GPU_CHECK(cudaSetDevice(0));
    sl_cuda_ar_destroy(g->ar);
    pthread_barrier_destroy(&g->barrier);
}

/* ---- the oracle ------------------------------------------------------------------- */

/* Random bf16 of magnitudes 2^-8..2^4 and both signs, some exact zeros. */
static void random_inputs(uint64_t *rng, sl_bf16_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double u = gpu_test_uniform(rng) * 2 - 1;
        int e = (int)(gpu_test_uniform(rng) * 13) - 8;
        x[i] = gpu_test_uniform(rng) < 1.0 / 32 ? 0 : sl_float_to_bf16((float)ldexp(u, e));
    }
}

/* OUT [n] = bf16(in[0] + in[1] + ... in float32, in rank order). */
static void host_sum(sl_bf16_t *out, sl_bf16_t *const *in, int tp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float acc = sl_bf16_to_float(in[0][i]);
        for (int k = 1; k < tp; k++)
            acc += sl_bf16_to_float(in[k][i]);
        out[i] = sl_float_to_bf16(acc);
    }
}

static int is_nan(sl_bf16_t h)
{
    return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
}

/* Distance in bf16 ulps (+0 and -0 the same); NaN: a huge distance. */
static long ulps(sl_bf16_t a, sl_bf16_t b)
{
    if (is_nan(a) || is_nan(b))
        return 1L << 20;
    long oa = a & 0x8000u ? -(long)(a & 0x7fffu) : (long)(a & 0x7fffu);
    long ob = b & 0x8000u ? -(long)(b & 0x7fffu) : (long)(b & 0x7fffu);
    return oa > ob ? oa - ob : ob - oa;
}

/* Elements of GOT more than one ulp from WANT; *max_p the largest distance. */
static size_t count_bad(const sl_bf16_t *got, const sl_bf16_t *want, size_t n, long *max_p)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        long d = ulps(got[i], want[i]);
        *max_p = d > *max_p ? d : *max_p;
        bad += d > 1;
    }
    return bad;
}

/* ---- correctness per size -------------------------------------------------------- */

typedef struct {
    size_t n;
    sl_bf16_t *in[MAX_TP];                           /* [n] each rank's input */
    sl_bf16_t *custom[MAX_TP], *inplace[MAX_TP], *nccl[MAX_TP]; /* [n] results */
} size_case_t;

static void rank_size_case(rank_t *r, void *arg)
{
    size_case_t *c = arg;
    size_t bytes = c->n * 2;
    /* NCCL's LL kernels read whole 8-byte words past a 2-byte buffer
     * (compute-sanitizer flags it): its buffers get whole 16-byte packets.
     * The custom kernel gets the exact sizes. */
    size_t padded = (bytes + 15) & ~(size_t)15;
    void *d_in = gc_device(padded), *d_out = gc_device(bytes), *d_io = gc_device(bytes);
    void *d_nccl = gc_device(padded);

    GPU_CHECK(cudaMemcpy(d_in, c->in[r->rank], bytes, cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(d_io, c->in[r->rank], bytes, cudaMemcpyHostToDevice));
    /* The stream is non-blocking: it does not wait for the legacy stream. */
    GPU_CHECK(cudaDeviceSynchronize());
    ar_call(r, d_in, d_out, c->n);
    ar_call(r, d_io, d_io, c->n);
    NCCL_CHECK(ncclAllReduce(d_in, d_nccl, c->n, ncclBfloat16, ncclSum, r->g->nccl[r->rank],
                             r->stream));
    GPU_CHECK(cudaStreamSynchronize(r->stream));
    GPU_CHECK(cudaMemcpy(c->custom[r->rank], d_out, bytes, cudaMemcpyDeviceToHost));
    GPU_CHECK(cudaMemcpy(c->inplace[r->rank], d_io, bytes, cudaMemcpyDeviceToHost));
    GPU_CHECK(cudaMemcpy(c->nccl[r->rank], d_nccl, bytes, cudaMemcpyDeviceToHost));
    GPU_CHECK(cudaFree(d_in));
    GPU_CHECK(cudaFree(d_out));
    GPU_CHECK(cudaFree(d_io));
    GPU_CHECK(cudaFree(d_nccl));
}

static void check_size(group_t *g, size_t n, uint64_t *rng)
{
    const int tp = g->tp;
    size_case_t c = {.n = n};
    sl_bf16_t *want = gc_malloc(n * 2);
    size_t bad = 0, bad_nccl = 0, differ = 0;
    long max_ulps = 0;
    double worst_nccl = 0;

    for (int k = 0; k < tp; k++) {
        c.in[k] = gc_malloc(n * 2);
        c.custom[k] = gc_malloc(n * 2);
        c.inplace[k] = gc_malloc(n * 2);
        c.nccl[k] = gc_malloc(n * 2);
        random_inputs(rng, c.in[k], n);
    }
    host_sum(want, c.in, tp, n);
    on_ranks(g, rank_size_case, &c);
    expect_no_failure(g, "sizes");

    for (int k = 0; k < tp; k++) {
        bad += count_bad(c.custom[k], want, n, &max_ulps);
        differ += memcmp(c.custom[k], c.custom[0], n * 2) != 0;
        differ += memcmp(c.inplace[k], c.custom[k], n * 2) != 0;
    }
    /* NCCL rounds every partial sum to bf16: tp roundings of at most 2^-9 of
     * sum |x| each, doubled for slack. */
    for (size_t i = 0; i < n; i++) {
        double abs_sum = 0;
        for (int k = 0; k < tp; k++)
            abs_sum += fabs((double)sl_bf16_to_float(c.in[k][i]));
        double d = fabs((double)sl_bf16_to_float(c.custom[0][i]) -
                        (double)sl_bf16_to_float(c.nccl[0][i]));
        double rel = abs_sum > 0 ? d / abs_sum : d;
        if (is_nan(c.nccl[0][i]) || !(rel <= tp * 0x1p-8))
            bad_nccl++;
        worst_nccl = rel > worst_nccl ? rel : worst_nccl;
    }
    int ok = bad == 0 && differ == 0 && bad_nccl == 0;
    printf("%-4s %s tp=%d n=%-7zu host sum: max %ld ulp, %zu > 1 ulp; ranks/in-place differ: "
           "%zu; vs NCCL max %.1e of sum|x| (bound %.1e)\n",
           ok ? "ok" : "FAIL", proto_name(), tp, n, max_ulps, bad, differ, worst_nccl, tp * 0x1p-8);
    gc_checks++;
    gc_failures += !ok;
    for (int k = 0; k < tp; k++)
        free(c.in[k]), free(c.custom[k]), free(c.inplace[k]), free(c.nccl[k]);
    free(want);
}

/* ---- many calls: eager, then in a graph, then eager again --------------------------- */

#define STRESS_SIZES 3
#define STRESS_SETS 3 /* odd: calls e and e + 2 (same parity) see different inputs */
static const size_t stress_n[STRESS_SIZES] = {4096, 37, 20000}; /* 8 KB; 1 block; 10 blocks */

typedef struct {
    int iters, graph;
    sl_bf16_t *in[MAX_TP][STRESS_SIZES][STRESS_SETS]; /* host inputs */
    void *d_sets[MAX_TP][STRESS_SIZES][STRESS_SETS];  /* the same on each rank's GPU */
    void *d_all[MAX_TP][STRESS_SIZES];                /* [iters, n] every output */
} stress_t;

/* Elements between two output rows of size S: whole 16-byte packets, since
 * every row is an all-reduce output (the kernel takes 16-byte aligned
 * pointers only). */
static size_t stress_ld(int s)
{
    return (stress_n[s] + 7) & ~(size_t)7;
}

/* Iteration IT's input set for size S. */
static int stress_set(int it, int s)
{
    return (it + s) % STRESS_SETS;
}

static void rank_stress_upload(rank_t *r, void *arg)
{
    stress_t *st = arg;
    for (int s = 0; s < STRESS_SIZES; s++) {
        for (int k = 0; k < STRESS_SETS; k++)
            st->d_sets[r->rank][s][k] = gc_upload(st->in[r->rank][s][k], stress_n[s] * 2);
        st->d_all[r->rank][s] = gc_device((size_t)st->iters * stress_ld(s) * 2);
    }
    GPU_CHECK(cudaDeviceSynchronize());
}

static void rank_stress_free(rank_t *r, void *arg)
{
    stress_t *st = arg;
    for (int s = 0; s < STRESS_SIZES; s++) {
        for (int k = 0; k < STRESS_SETS; k++)
            GPU_CHECK(cudaFree(st->d_sets[r->rank][s][k]));
        GPU_CHECK(cudaFree(st->d_all[r->rank][s]));
    }
}

/* Back to back: every call reads a set and writes its own output row. */
static void rank_stress_eager(rank_t *r, void *arg)
{
    stress_t *st = arg;
    for (int s = 0; s < STRESS_SIZES; s++)
        GPU_CHECK(cudaMemsetAsync(st->d_all[r->rank][s], 0xff,
                                  (size_t)st->iters * stress_ld(s) * 2, r->stream));
    for (int it = 0; it < st->iters; it++)
        for (int s = 0; s < STRESS_SIZES; s++)
            ar_call(r, st->d_sets[r->rank][s][stress_set(it, s)],
                    (uint16_t *)st->d_all[r->rank][s] + (size_t)it * stress_ld(s), stress_n[s]);
    GPU_CHECK(cudaStreamSynchronize(r->stream));
}

/* One graph of the three calls (the first in place); between replays the
 * inputs are replaced, the outputs poisoned, and after each the outputs
 * copied to their row. */
static void rank_stress_graph(rank_t *r, void *arg)
{
    stress_t *st = arg;
    void *d_in[STRESS_SIZES], *d_out[STRESS_SIZES];
    cudaGraph_t graph;
    cudaGraphExec_t exec;

    for (int s = 0; s < STRESS_SIZES; s++) {
        d_in[s] = gc_device(stress_n[s] * 2);
        d_out[s] = s == 0 ? d_in[s] : gc_device(stress_n[s] * 2);
    }
    GPU_CHECK(cudaDeviceSynchronize());
    GPU_CHECK(cudaStreamBeginCapture(r->stream, cudaStreamCaptureModeThreadLocal));
    for (int s = 0; s < STRESS_SIZES; s++)
        ar_call(r, d_in[s], d_out[s], stress_n[s]);
    GPU_CHECK(cudaStreamEndCapture(r->stream, &graph));
    GPU_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int it = 0; it < st->iters; it++) {
        for (int s = 0; s < STRESS_SIZES; s++) {
            if (d_out[s] != d_in[s])
                GPU_CHECK(cudaMemsetAsync(d_out[s], 0xff, stress_n[s] * 2, r->stream));
            GPU_CHECK(cudaMemcpyAsync(d_in[s], st->d_sets[r->rank][s][stress_set(it, s)],
                                      stress_n[s] * 2, cudaMemcpyDeviceToDevice, r->stream));
        }
        GPU_CHECK(cudaGraphLaunch(exec, r->stream));
        for (int s = 0; s < STRESS_SIZES; s++)
            GPU_CHECK(cudaMemcpyAsync((uint16_t *)st->d_all[r->rank][s] +
                                          (size_t)it * stress_ld(s),
                                      d_out[s], stress_n[s] * 2, cudaMemcpyDeviceToDevice,
                                      r->stream));
    }
    GPU_CHECK(cudaStreamSynchronize(r->stream));
    GPU_CHECK(cudaGraphExecDestroy(exec));
    GPU_CHECK(cudaGraphDestroy(graph));
    for (int s = 0; s < STRESS_SIZES; s++) {
        if (d_out[s] != d_in[s])
            GPU_CHECK(cudaFree(d_out[s]));
        GPU_CHECK(cudaFree(d_in[s]));
    }
}

/* Every output row of every rank against the host sum of its inputs. */
static void stress_check(group_t *g, stress_t *st, const char *what)
{
    size_t bad = 0;
    long max_ulps = 0;
    int bad_iter = -1;

    expect_no_failure(g, what);
    for (int s = 0; s < STRESS_SIZES; s++) {
        size_t n = stress_n[s], ld = stress_ld(s);
        sl_bf16_t *want[STRESS_SETS], *got = gc_malloc((size_t)st->iters * ld * 2);
        for (int k = 0; k < STRESS_SETS; k++) {
            sl_bf16_t *in[MAX_TP];
            for (int q = 0; q < g->tp; q++)
                in[q] = st->in[q][s][k];
            want[k] = gc_malloc(n * 2);
            host_sum(want[k], in, g->tp, n);
        }
        for (int q = 0; q < g->tp; q++) {
            GPU_CHECK(cudaSetDevice(q));
            GPU_CHECK(cudaMemcpy(got, st->d_all[q][s], (size_t)st->iters * ld * 2,
                                 cudaMemcpyDeviceToHost));
            for (int it = 0; it < st->iters; it++) {
                size_t b = count_bad(got + (size_t)it * ld, want[stress_set(it, s)], n,
                                     &max_ulps);
                if (b > 0 && bad_iter < 0)
                    bad_iter = it;
                bad += b;
            }
        }
        GPU_CHECK(cudaSetDevice(0));
        for (int k = 0; k < STRESS_SETS; k++)
            free(want[k]);
        free(got);
    }
    int ok = bad == 0;
    printf("%-4s %s tp=%d %s: %d iterations of %zu + %zu + %zu elements: max %ld ulp, %zu "
           "elements > 1 ulp (first bad iteration %d)\n",
           ok ? "ok" : "FAIL", proto_name(), g->tp, what, st->iters, stress_n[0], stress_n[1],
           stress_n[2], max_ulps, bad, bad_iter);
    gc_checks++;
    gc_failures += !ok;
}

static void check_stress(group_t *g, uint64_t *rng)
{
    stress_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(EXIT_FAILURE);
    }
    st->iters = quick ? 50 : 1000;
    for (int q = 0; q < g->tp; q++)
        for (int s = 0; s < STRESS_SIZES; s++)
            for (int k = 0; k < STRESS_SETS; k++) {
                st->in[q][s][k] = gc_malloc(stress_n[s] * 2);
                random_inputs(rng, st->in[q][s][k], stress_n[s]);
            }
    on_ranks(g, rank_stress_upload, st);
    on_ranks(g, rank_stress_eager, st);
    stress_check(g, st, "eager");
    on_ranks(g, rank_stress_graph, st);
    stress_check(g, st, "graph replays");
    st->iters = 10; /* eager again: the epoch carried on through the replays */
    on_ranks(g, rank_stress_eager, st);
    stress_check(g, st, "eager after replays");
    st->iters = quick ? 50 : 1000;
    on_ranks(g, rank_stress_free, st);
    for (int q = 0; q < g->tp; q++)
        for (int s = 0; s < STRESS_SIZES; s++)
            for (int k = 0; k < STRESS_SETS; k++)
                free(st->in[q][s][k]);
    free(st);
}

/* ---- the all-reduce fused with the RMSNorm ----------------------------------------- */

#define EPS 1e-5f

/* One rank's operands of an all-reduce + bias + RMSNorm (device). */
typedef struct {
    void *x, *res, *xn, *w; /* [n, h], [n, h], [n, h], [h] bf16 */
    float *b;               /* [h], or NULL */
    void *xin, *eye;        /* NORM_PUSHED only: x's input [n, h], identity [h, h] */
} norm_bufs_t;

/* How norm_call reduces: the unfused sequence, the fused kernel, or the
 * fused kernel after a GEMV that pushed x to the peers (x = xin . I^T: the
 * same bits as xin, so the results must not change). */
enum { NORM_UNFUSED, NORM_FUSED, NORM_PUSHED };
static const char *const norm_mode_name[] = {"the unfused sequence", "sl_cuda_ar_rmsnorm_bf16",
                                             "sl_cuda_gemv_push_bf16 + pushed all-reduce"};

/* Whether NORM_PUSHED runs for n rows: the GEMV takes at most 8, and the
 * barrier protocol has no pushed variant. */
static int pushable(int n)
{
    return protocol == SL_CUDA_AR_LAMPORT && n <= SL_CUDA_GEMV_MAX_ROWS;
}

static void norm_call(rank_t *r, int mode, const norm_bufs_t *d, int n, int h)
{
    sl_status_t s;
    if (mode == NORM_PUSHED) {
        sl_cuda_ar_push_t push;
        s = SL_ERR_INVALID_ARG;
        if (sl_cuda_ar_push_target(r->g->ar, r->rank, (size_t)n * h, &push))
            s = sl_cuda_gemv_push_bf16(d->x, d->xin, h, d->eye, n, h, h, &push, r->stream);
        if (s == SL_OK)
            s = sl_cuda_ar_rmsnorm_bf16(r->g->ar, r->rank, d->x, d->b, d->res, d->w, d->xn, n,
                                        h, EPS, 1, r->stream);
    } else if (mode == NORM_FUSED) {
        s = sl_cuda_ar_rmsnorm_bf16(r->g->ar, r->rank, d->x, d->b, d->res, d->w, d->xn, n, h, EPS,
                                    0, r->stream);
    } else {
        s = sl_cuda_ar_bf16(r->g->ar, r->rank, d->x, d->x, (size_t)n * h, r->stream);
        if (s == SL_OK && d->b != NULL)
            s = sl_cuda_add_bias_bf16(d->x, d->b, n, h, r->stream);
        if (s == SL_OK)
            s = sl_cuda_rmsnorm_bf16(d->xn, d->x, d->res, d->w, n, h, EPS, r->stream);
    }
    if (s != SL_OK) {
        fprintf(stderr, "FAIL: %s (rank %d, %d x %d)\n", norm_mode_name[mode], r->rank, n, h);
        exit(EXIT_FAILURE);
    }
}

/* Host inputs of one shape: each rank's partial sums, the residual (the same
 * on every rank, as in the model), the weight, the bias. */
typedef struct {
    int n, h;
    sl_bf16_t *x[MAX_TP], *res, *w; /* [n, h], [n, h], [h] */
    float *b;                       /* [h], or NULL */
} norm_inputs_t;

/* Random inputs; with ZERO_ROW, row n - 1 is zero everywhere (sum of squares 0). */
static void norm_inputs(norm_inputs_t *in, int tp, int n, int h, int bias, int zero_row,
                        uint64_t *rng)
{
    size_t nh = (size_t)n * h;
    in->n = n, in->h = h;
    for (int k = 0; k < tp; k++) {
        in->x[k] = gc_malloc(nh * 2);
        random_inputs(rng, in->x[k], nh);
    }
    in->res = gc_malloc(nh * 2);
    random_inputs(rng, in->res, nh);
    in->w = gc_malloc((size_t)h * 2);
    gc_random_bf16(rng, in->w, NULL, (size_t)h, 0.25, 2.0);
    in->b = NULL;
    if (bias) {
        in->b = gc_malloc((size_t)h * 4);
        for (int i = 0; i < h; i++)
            in->b[i] = (float)(gpu_test_uniform(rng) * 4 - 2);
    }
    if (zero_row) {
        for (int k = 0; k < tp; k++)
            memset(in->x[k] + nh - h, 0, (size_t)h * 2);
        memset(in->res + nh - h, 0, (size_t)h * 2);
    }
}

static void norm_inputs_free(norm_inputs_t *in, int tp)
{
    for (int k = 0; k < tp; k++)
        free(in->x[k]);
    free(in->res);
    free(in->w);
    free(in->b);
}

/* WANT_X, WANT_RES [n, h]: the sum in rank order rounded to bf16, + bias
 * rounded again, then the residual sum rounded: exact on the host. */
static void host_add(const norm_inputs_t *in, int tp, sl_bf16_t *want_x, sl_bf16_t *want_res)
{
    sl_bf16_t *parts[MAX_TP];
    size_t nh = (size_t)in->n * in->h;
    for (int k = 0; k < tp; k++)
        parts[k] = in->x[k];
    host_sum(want_x, parts, tp, nh);
    for (size_t i = 0; i < nh; i++) {
        if (in->b != NULL)
            want_x[i] = sl_float_to_bf16(sl_bf16_to_float(want_x[i]) + in->b[i % in->h]);
        want_res[i] = sl_float_to_bf16(sl_bf16_to_float(want_x[i]) +
                                       sl_bf16_to_float(in->res[i]));
    }
}

/* The results of each mode of norm_call on the same inputs, each rank's:
 * x, residual, xn [n, h] each. */
typedef struct {
    const norm_inputs_t *in;
    int modes; /* 2, or 3 where pushable() */
    sl_bf16_t *out[3][MAX_TP][3];
} fused_case_t;

/* The identity [h, h] bf16 on the current device. */
static void *identity(int h)
{
    uint16_t *ones = gc_malloc((size_t)h * 2);
    void *eye = gc_device((size_t)h * h * 2);
    for (int i = 0; i < h; i++)
        ones[i] = 0x3F80; /* bf16 1.0 */
    GPU_CHECK(cudaMemset(eye, 0, (size_t)h * h * 2));
    /* ones[i] to element (i, i): a column of 2-byte rows, h + 1 elements apart */
    GPU_CHECK(cudaMemcpy2D(eye, (size_t)(h + 1) * 2, ones, 2, 2, (size_t)h,
                           cudaMemcpyHostToDevice));
    free(ones);
    return eye;
}

static norm_bufs_t norm_upload(const norm_inputs_t *in, int rank)
{
    size_t nh = (size_t)in->n * in->h;
    norm_bufs_t d = {gc_upload(in->x[rank], nh * 2), gc_upload(in->res, nh * 2),
                     gc_device(nh * 2), gc_upload(in->w, (size_t)in->h * 2), NULL, NULL, NULL};
    if (in->b != NULL)
        d.b = gc_upload(in->b, (size_t)in->h * 4);
    if (pushable(in->n)) {
        d.xin = gc_upload(in->x[rank], nh * 2);
        d.eye = identity(in->h);
    }
    return d;
}

static void norm_free(norm_bufs_t *d)
{
    if (d->xin != NULL) {
        GPU_CHECK(cudaFree(d->xin));
        GPU_CHECK(cudaFree(d->eye));
    }
    GPU_CHECK(cudaFree(d->x));
    GPU_CHECK(cudaFree(d->res));
    GPU_CHECK(cudaFree(d->xn));
    GPU_CHECK(cudaFree(d->w));
    if (d->b != NULL)
        GPU_CHECK(cudaFree(d->b));
}

static void rank_fused_case(rank_t *r, void *arg)
{
    fused_case_t *c = arg;
    size_t bytes = (size_t)c->in->n * c->in->h * 2;
    norm_bufs_t d[3];

    for (int f = 0; f < c->modes; f++) {
        d[f] = norm_upload(c->in, r->rank);
        /* Different poisons: an element neither wrote still differs. */
        GPU_CHECK(cudaMemset(d[f].xn, f == 0 ? 0xff : 0x7f, bytes));
        if (f == NORM_PUSHED) /* x must come from the GEMV */
            GPU_CHECK(cudaMemset(d[f].x, 0x7f, bytes));
    }
    GPU_CHECK(cudaDeviceSynchronize());
    for (int f = 0; f < c->modes; f++)
        norm_call(r, f, &d[f], c->in->n, c->in->h);
    GPU_CHECK(cudaStreamSynchronize(r->stream));
    for (int f = 0; f < c->modes; f++) {
        void *src[3] = {d[f].x, d[f].res, d[f].xn};
        for (int i = 0; i < 3; i++)
            GPU_CHECK(cudaMemcpy(c->out[f][r->rank][i], src[i], bytes, cudaMemcpyDeviceToHost));
        norm_free(&d[f]);
    }
}

/* Elements of A [n] whose bits differ from B's. */
static size_t count_differ(const sl_bf16_t *a, const sl_bf16_t *b, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

static void check_fused_case(group_t *g, int n, int h, int bias, uint64_t *rng)
{
    const int tp = g->tp;
    size_t nh = (size_t)n * h, host_bad = 0, differ = 0, ranks_differ = 0;
    norm_inputs_t in;
    fused_case_t c = {.in = &in, .modes = pushable(n) ? 3 : 2};
    sl_bf16_t *want_x = gc_malloc(nh * 2), *want_res = gc_malloc(nh * 2);

    norm_inputs(&in, tp, n, h, bias, n > 1, rng);
    for (int f = 0; f < c.modes; f++)
        for (int k = 0; k < tp; k++)
            for (int i = 0; i < 3; i++)
                c.out[f][k][i] = gc_malloc(nh * 2);
    host_add(&in, tp, want_x, want_res);
    on_ranks(g, rank_fused_case, &c);
    expect_no_failure(g, "fused");

    for (int k = 0; k < tp; k++) {
        for (int f = 0; f < c.modes; f++) {
            host_bad += count_differ(c.out[f][k][0], want_x, nh);
            host_bad += count_differ(c.out[f][k][1], want_res, nh);
        }
        for (int f = 1; f < c.modes; f++) {
            for (int i = 0; i < 3; i++) {
                differ += count_differ(c.out[f][k][i], c.out[0][k][i], nh);
                ranks_differ += count_differ(c.out[f][k][i], c.out[f][0][i], nh);
            }
        }
    }
    int ok = host_bad == 0 && differ == 0 && ranks_differ == 0;
    printf("%-4s %s tp=%d fused n=%-2d h=%-4d %s: x, residual vs host: %zu differ; fused%s vs "
           "unfused (x, residual, xn): %zu differ; ranks: %zu differ\n",
           ok ? "ok" : "FAIL", proto_name(), tp, n, h, bias ? "bias   " : "no bias", host_bad,
           c.modes == 3 ? " and pushed" : "", differ, ranks_differ);
    gc_checks++;
    gc_failures += !ok;
    for (int f = 0; f < c.modes; f++)
        for (int k = 0; k < tp; k++)
            for (int i = 0; i < 3; i++)
                free(c.out[f][k][i]);
    norm_inputs_free(&in, tp);
    free(want_x);
    free(want_res);
}

static void check_fused(group_t *g, uint64_t *rng)
{
    static const int rows[] = {1, 2, 7, 64}, dims[] = {128, 4096, 5120, 8192};
    static const int quick_rows[] = {1, 7}, quick_dims[] = {128, 8192};
    const int *r = quick ? quick_rows : rows, *d = quick ? quick_dims : dims;
    int nr = quick ? 2 : 4, nd = quick ? 2 : 4;

    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nd; j++)
            for (int bias = 0; bias < 2; bias++)
                check_fused_case(g, r[i], d[j], bias, rng);
}

/* Many fused calls back to back, eager then replayed in a graph: two shapes
 * (one block of 512 threads with a bias; seven rows of 8192, blocks emulating
 * 1024 threads) with a plain all-reduce between them (all three share the
 * epoch), each iteration on other inputs, every result against the unfused
 * sequence's on the same inputs, bitwise. */
#define FSTRESS_SHAPES 2
#define FSTRESS_PLAIN 37 /* elements of the plain all-reduce, of zeros */
static const struct {
    int n, h, bias;
} fstress_shape[FSTRESS_SHAPES] = {{1, 4096, 1}, {7, 8192, 0}};

typedef struct {
    int iters, graph, mode; /* mode: NORM_FUSED or NORM_PUSHED */
    norm_inputs_t in[FSTRESS_SHAPES][STRESS_SETS]; /* weight and bias: set 0's for all */
    norm_bufs_t d[MAX_TP][FSTRESS_SHAPES];                       /* the calls' buffers */
    void *d_xin[MAX_TP][FSTRESS_SHAPES][STRESS_SETS];           /* [n, h] input sets */
    void *d_rin[MAX_TP][FSTRESS_SHAPES][STRESS_SETS];
    void *d_zero[MAX_TP];                                        /* [FSTRESS_PLAIN] */
    void *d_all[MAX_TP][FSTRESS_SHAPES];          /* [iters, 3, n, h]: x, residual, xn */
    sl_bf16_t *want[MAX_TP][FSTRESS_SHAPES][STRESS_SETS]; /* [3, n, h] unfused results */
} fstress_t;

static size_t fstress_nh(int s)
{
    return (size_t)fstress_shape[s].n * fstress_shape[s].h;
}

/* The inputs of iteration IT into the calls' buffers, for MODE. */
static void fstress_load(rank_t *r, fstress_t *st, int it, int mode)
{
    for (int s = 0; s < FSTRESS_SHAPES; s++) {
        int set = stress_set(it, s);
        const norm_bufs_t *d = &st->d[r->rank][s];
        const int pushed = mode == NORM_PUSHED;
        GPU_CHECK(cudaMemcpyAsync(pushed ? d->xin : d->x, st->d_xin[r->rank][s][set],
                                  fstress_nh(s) * 2, cudaMemcpyDeviceToDevice, r->stream));
        if (pushed) /* x must come from the GEMV */
            GPU_CHECK(cudaMemsetAsync(d->x, 0x7f, fstress_nh(s) * 2, r->stream));
        GPU_CHECK(cudaMemcpyAsync(st->d[r->rank][s].res, st->d_rin[r->rank][s][set],
                                  fstress_nh(s) * 2, cudaMemcpyDeviceToDevice, r->stream));
        GPU_CHECK(cudaMemsetAsync(st->d[r->rank][s].xn, 0xff, fstress_nh(s) * 2, r->stream));
    }
}

/* The results of the calls to iteration IT's row of d_all. */
static void fstress_store(rank_t *r, fstress_t *st, int it)
{
    for (int s = 0; s < FSTRESS_SHAPES; s++) {
        const norm_bufs_t *d = &st->d[r->rank][s];
        const void *src[3] = {d->x, d->res, d->xn};
        uint16_t *dst = (uint16_t *)st->d_all[r->rank][s] + (size_t)it * 3 * fstress_nh(s);
        for (int i = 0; i < 3; i++)
            GPU_CHECK(cudaMemcpyAsync(dst + i * fstress_nh(s), src[i], fstress_nh(s) * 2,
                                      cudaMemcpyDeviceToDevice, r->stream));
    }
}

static void fstress_calls(rank_t *r, fstress_t *st, int mode)
{
    norm_call(r, mode, &st->d[r->rank][0], fstress_shape[0].n, fstress_shape[0].h);
    ar_call(r, st->d_zero[r->rank], st->d_zero[r->rank], FSTRESS_PLAIN);
    norm_call(r, mode, &st->d[r->rank][1], fstress_shape[1].n, fstress_shape[1].h);
}

/* Buffers, input sets, and the unfused sequence's results on each set. */
static void rank_fstress_setup(rank_t *r, void *arg)
{
    fstress_t *st = arg;
    for (int s = 0; s < FSTRESS_SHAPES; s++) {
        st->d[r->rank][s] = norm_upload(&st->in[s][0], r->rank);
        for (int k = 0; k < STRESS_SETS; k++) {
            st->d_xin[r->rank][s][k] = gc_upload(st->in[s][k].x[r->rank], fstress_nh(s) * 2);
            st->d_rin[r->rank][s][k] = gc_upload(st->in[s][k].res, fstress_nh(s) * 2);
        }
        st->d_all[r->rank][s] = gc_device((size_t)st->iters * 3 * fstress_nh(s) * 2);
    }
    st->d_zero[r->rank] = gc_device(FSTRESS_PLAIN * 2);
    GPU_CHECK(cudaMemset(st->d_zero[r->rank], 0, FSTRESS_PLAIN * 2));
    GPU_CHECK(cudaDeviceSynchronize());
    /* Iteration k's sets: every set of every shape once. */
    for (int k = 0; k < STRESS_SETS; k++) {
        fstress_load(r, st, k, NORM_UNFUSED);
        fstress_calls(r, st, NORM_UNFUSED);
        GPU_CHECK(cudaStreamSynchronize(r->stream));
        for (int s = 0; s < FSTRESS_SHAPES; s++) {
            const norm_bufs_t *d = &st->d[r->rank][s];
            const void *src[3] = {d->x, d->res, d->xn};
            for (int i = 0; i < 3; i++)
                GPU_CHECK(cudaMemcpy(st->want[r->rank][s][stress_set(k, s)] + i * fstress_nh(s),
                                     src[i], fstress_nh(s) * 2, cudaMemcpyDeviceToHost));
        }
    }
}

static void rank_fstress_free(rank_t *r, void *arg)
{
    fstress_t *st = arg;
    for (int s = 0; s < FSTRESS_SHAPES; s++) {
        norm_free(&st->d[r->rank][s]);
        for (int k = 0; k < STRESS_SETS; k++) {
            GPU_CHECK(cudaFree(st->d_xin[r->rank][s][k]));
            GPU_CHECK(cudaFree(st->d_rin[r->rank][s][k]));
        }
        GPU_CHECK(cudaFree(st->d_all[r->rank][s]));
    }
    GPU_CHECK(cudaFree(st->d_zero[r->rank]));
}

/* ITERS iterations: inputs in, the three calls (eager, or one replay of
 * their graph), results out to the iteration's row. */
static void rank_fstress_run(rank_t *r, void *arg)
{
    fstress_t *st = arg;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;

    if (st->graph) {
        GPU_CHECK(cudaStreamBeginCapture(r->stream, cudaStreamCaptureModeThreadLocal));
        fstress_calls(r, st, st->mode);
        GPU_CHECK(cudaStreamEndCapture(r->stream, &graph));
        GPU_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    }
    for (int it = 0; it < st->iters; it++) {
        fstress_load(r, st, it, st->mode);
        if (exec != NULL)
            GPU_CHECK(cudaGraphLaunch(exec, r->stream));
        else
            fstress_calls(r, st, st->mode);
        fstress_store(r, st, it);
    }
    GPU_CHECK(cudaStreamSynchronize(r->stream));
    if (exec != NULL) {
        GPU_CHECK(cudaGraphExecDestroy(exec));
        GPU_CHECK(cudaGraphDestroy(graph));
    }
}

static void fstress_check(group_t *g, fstress_t *st, const char *what)
{
    const int iters = st->iters;
    size_t bad = 0, ranks_differ = 0;
    int bad_iter = -1;

    expect_no_failure(g, what);
    for (int s = 0; s < FSTRESS_SHAPES; s++) {
        size_t row = 3 * fstress_nh(s);
        sl_bf16_t *got = gc_malloc((size_t)iters * row * 2);
        for (int q = 0; q < g->tp; q++) {
            GPU_CHECK(cudaSetDevice(q));
            GPU_CHECK(cudaMemcpy(got, st->d_all[q][s], (size_t)iters * row * 2,
                                 cudaMemcpyDeviceToHost));
            for (int it = 0; it < iters; it++) {
                size_t b = count_differ(got + (size_t)it * row,
                                        st->want[q][s][stress_set(it, s)], row);
                if (b > 0 && bad_iter < 0)
                    bad_iter = it;
                bad += b;
            }
            for (int k = 0; k < STRESS_SETS; k++)
                ranks_differ += count_differ(st->want[q][s][k], st->want[0][s][k], row);
        }
        free(got);
    }
    sl_bf16_t zero[FSTRESS_PLAIN];
    for (int q = 0; q < g->tp; q++) {
        GPU_CHECK(cudaSetDevice(q));
        GPU_CHECK(cudaMemcpy(zero, st->d_zero[q], sizeof(zero), cudaMemcpyDeviceToHost));
        for (int i = 0; i < FSTRESS_PLAIN; i++)
            bad += zero[i] != 0;
    }
    GPU_CHECK(cudaSetDevice(0));
    int ok = bad == 0 && ranks_differ == 0;
    printf("%-4s %s tp=%d %s %s: %d iterations of 1x4096 + bias, %d-element all-reduce, "
           "7x8192: %zu elements differ from the unfused sequence (first bad iteration %d); "
           "ranks: %zu differ\n",
           ok ? "ok" : "FAIL", proto_name(), g->tp, st->mode == NORM_PUSHED ? "pushed" : "fused",
           what, iters, FSTRESS_PLAIN, bad, bad_iter, ranks_differ);
    gc_checks++;
    gc_failures += !ok;
}

static void check_fused_stress(group_t *g, uint64_t *rng)
{
    fstress_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        fprintf(stderr, "FAIL: out of host memory\n");
        exit(EXIT_FAILURE);
    }
    for (int s = 0; s < FSTRESS_SHAPES; s++)
        for (int k = 0; k < STRESS_SETS; k++) {
            norm_inputs(&st->in[s][k], g->tp, fstress_shape[s].n, fstress_shape[s].h,
                        fstress_shape[s].bias, 0, rng);
            for (int q = 0; q < g->tp; q++)
                st->want[q][s][k] = gc_malloc(3 * fstress_nh(s) * 2);
        }
    st->iters = quick ? 20 : 200; /* the most of any run: d_all's rows */
    on_ranks(g, rank_fstress_setup, st);
    /* The fused kernel; then, where it exists, its pushed variant. */
    for (st->mode = NORM_FUSED; st->mode <= NORM_PUSHED; st->mode++) {
        if (st->mode == NORM_PUSHED && !pushable(fstress_shape[1].n))
            break;
        st->iters = quick ? 20 : 200;
        st->graph = 0;
        on_ranks(g, rank_fstress_run, st);
        fstress_check(g, st, "eager");
        st->graph = 1;
        on_ranks(g, rank_fstress_run, st);
        fstress_check(g, st, "graph replays");
        st->graph = 0;
        st->iters = 10; /* the epoch carried on through the replays */
        on_ranks(g, rank_fstress_run, st);
        fstress_check(g, st, "eager after replays");
    }
    on_ranks(g, rank_fstress_free, st);
    for (int s = 0; s < FSTRESS_SHAPES; s++)
        for (int k = 0; k < STRESS_SETS; k++) {
            norm_inputs_free(&st->in[s][k], g->tp);
            for (int q = 0; q < g->tp; q++)
                free(st->want[q][s][k]);
        }
    free(st);
}

/* ---- the hang protection ---------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rank 0 of a fresh 2-GPU group calls alone: with ABORT_AFTER_S < 0 its
 * kernel must give up after the 0.5 s timeout and name rank 1; otherwise the
 * host aborts the group then (timeout 60 s) and the kernel must stop. */
static void check_lonely(double abort_after_s)
{
    const int devs[2] = {0, 1};
    const double timeout = abort_after_s < 0 ? 0.5 : 60.0;
    sl_cuda_ar_t *ar;
    cudaStream_t stream;
    int waiter = -1, peer = -1;

    if (sl_cuda_ar_create(devs, 2, 1 << 16, timeout, protocol, &ar) != SL_OK)
        exit(EXIT_FAILURE);
    GPU_CHECK(cudaSetDevice(0));
    GPU_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    void *buf = gc_device(4096 * 2);
    GPU_CHECK(cudaDeviceSynchronize());
    double t0 = now_s();
    if (sl_cuda_ar_bf16(ar, 0, buf, buf, 4096, stream) != SL_OK)
        exit(EXIT_FAILURE);
    if (abort_after_s >= 0) {
        usleep((useconds_t)(abort_after_s * 1e6));
        sl_cuda_ar_abort(ar);
    }
    GPU_CHECK(cudaStreamSynchronize(stream));
    double took = now_s() - t0;
    int failed = sl_cuda_ar_failed(ar, &waiter, &peer);
    int ok = abort_after_s < 0 ? failed && waiter == 0 && peer == 1 && took < 10
                               : !failed && took < 10;
    printf("%-4s %s lonely rank 0, %s: kernel returned after %.2f s; failure %s (rank %d "
           "waited for rank %d)\n",
           ok ? "ok" : "FAIL", proto_name(),
           abort_after_s < 0 ? "timeout 0.5 s" : "aborted after 0.1 s", took,
           failed ? "recorded" : "not recorded", waiter, peer);
    gc_checks++;
    gc_failures += !ok;
    GPU_CHECK(cudaFree(buf));
    GPU_CHECK(cudaStreamDestroy(stream));
    sl_cuda_ar_destroy(ar);
}

static void check_contract(group_t *g)
{
    void *buf = gc_device(128);
    char *p = buf;
    int ok = sl_cuda_ar_supported(g->ar, p, p, 8) && !sl_cuda_ar_supported(g->ar, p + 2, p, 8) &&
             !sl_cuda_ar_supported(g->ar, p, p + 2, 8) && !sl_cuda_ar_supported(g->ar, p, p, 0) &&
             sl_cuda_ar_supported(g->ar, p, p, MAX_ELEMS) &&
             !sl_cuda_ar_supported(g->ar, p, p, MAX_ELEMS + 1) &&
             !sl_cuda_ar_supported(NULL, p, p, 8) && sl_cuda_ar_max_bytes(g->ar) == MAX_ELEMS * 2;
    printf("%-4s %s tp=%d sl_cuda_ar_supported: aligned, sizes 1..%zu only\n", ok ? "ok" : "FAIL",
           proto_name(), g->tp, MAX_ELEMS);
    gc_checks++;
    gc_failures += !ok;

    /* x, bias, residual, weight, xn: distinct, 16-byte aligned; rows of 8k. */
    char *x = p, *b = p + 16, *res = p + 32, *w = p + 48, *xn = p + 64;
    const sl_cuda_ar_t *ar = g->ar;
    ok = sl_cuda_ar_rmsnorm_supported(ar, x, b, res, w, xn, 1, 8) &&
         sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, xn, 64, 8192) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, xn, 65, 8192) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, xn, 1, 12) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, xn, 0, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x + 2, NULL, res, w, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, b + 4, res, w, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res + 2, w, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w + 2, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, xn + 2, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, res, w, x, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, x, w, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(ar, x, NULL, NULL, w, xn, 1, 8) &&
         !sl_cuda_ar_rmsnorm_supported(NULL, x, NULL, res, w, xn, 1, 8);
    printf("%-4s %s tp=%d sl_cuda_ar_rmsnorm_supported: distinct aligned buffers, rows of 8k, "
           "up to %zu elements\n",
           ok ? "ok" : "FAIL", proto_name(), g->tp, MAX_ELEMS);
    gc_checks++;
    gc_failures += !ok;
    GPU_CHECK(cudaFree(buf));
}

/* ---- latency ---------------------------------------------------------------------- */

typedef struct {
    size_t n;
    int nccl, graph;
    int norm, rows, h; /* norm 1: the all-reduce + RMSNorm sequence, 2: fused (n = rows h) */
    double us;         /* per all-reduce, measured on rank 0 */
} bench_t;

static void enqueue(rank_t *r, const bench_t *b, const norm_bufs_t *d)
{
    if (b->norm)
        norm_call(r, b->norm - 1, d, b->rows, b->h);
    else if (b->nccl)
        NCCL_CHECK(ncclAllReduce(d->x, d->x, b->n, ncclBfloat16, ncclSum, r->g->nccl[r->rank],
                                 r->stream));
    else
        ar_call(r, d->x, d->x, b->n);
}

/* In place like the backend; zeros, so repeated sums stay finite (and the
 * norm's rows zero). */
static void rank_bench(rank_t *r, void *arg)
{
    bench_t *b = arg;
    const int reps = 200, per_graph = 50, launches = reps / per_graph;
    norm_bufs_t d = {gc_device(b->n * 2), NULL, NULL, NULL, NULL, NULL, NULL};
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    cudaEvent_t start, stop;
    float ms = 0;

    GPU_CHECK(cudaMemset(d.x, 0, b->n * 2));
    if (b->norm) {
        d.res = gc_device(b->n * 2);
        d.xn = gc_device(b->n * 2);
        d.w = gc_device((size_t)b->h * 2);
        GPU_CHECK(cudaMemset(d.res, 0, b->n * 2));
        GPU_CHECK(cudaMemset(d.w, 0, (size_t)b->h * 2));
    }
    GPU_CHECK(cudaDeviceSynchronize());
    GPU_CHECK(cudaEventCreate(&start));
    GPU_CHECK(cudaEventCreate(&stop));
    for (int i = 0; i < 20; i++)
        enqueue(r, b, &d);
    if (b->graph) {
        GPU_CHECK(cudaStreamBeginCapture(r->stream, cudaStreamCaptureModeThreadLocal));
        for (int i = 0; i < per_graph; i++)
            enqueue(r, b, &d);
        GPU_CHECK(cudaStreamEndCapture(r->stream, &graph));
        GPU_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        GPU_CHECK(cudaGraphLaunch(exec, r->stream));
    }
    GPU_CHECK(cudaStreamSynchronize(r->stream));
    pthread_barrier_wait(&r->g->barrier);
    GPU_CHECK(cudaEventRecord(start, r->stream));
    if (b->graph) {
        for (int i = 0; i < launches; i++)
            GPU_CHECK(cudaGraphLaunch(exec, r->stream));
    } else {
        for (int i = 0; i < reps; i++)
            enqueue(r, b, &d);
    }
    GPU_CHECK(cudaEventRecord(stop, r->stream));
    GPU_CHECK(cudaEventSynchronize(stop));
    GPU_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (r->rank == 0)
        b->us = ms * 1e3 / reps;
    if (exec != NULL) {
        GPU_CHECK(cudaGraphExecDestroy(exec));
        GPU_CHECK(cudaGraphDestroy(graph));
    }
    GPU_CHECK(cudaEventDestroy(start));
    GPU_CHECK(cudaEventDestroy(stop));
    GPU_CHECK(cudaFree(d.x));
    if (b->norm) {
        GPU_CHECK(cudaFree(d.res));
        GPU_CHECK(cudaFree(d.xn));
        GPU_CHECK(cudaFree(d.w));
    }
}

static void bench(group_t *g)
{
    size_t up_to = 0;
    int custom_wins = 1;

    for (size_t bytes = 1024; bytes <= MAX_ELEMS * 2; bytes *= 2) {
        bench_t b[4]; /* custom eager, custom graph, NCCL eager, NCCL graph */
        for (int i = 0; i < 4; i++) {
            b[i] = (bench_t){.n = bytes / 2, .nccl = i >= 2, .graph = i % 2};
            on_ranks(g, rank_bench, &b[i]);
        }
        printf("bench %s tp=%d bytes=%-8zu custom eager %7.2f us, graph %7.2f us | NCCL eager "
               "%7.2f us, graph %7.2f us\n",
               proto_name(), g->tp, bytes, b[0].us, b[1].us, b[2].us, b[3].us);
        custom_wins = custom_wins && b[1].us < b[3].us;
        if (custom_wins)
            up_to = bytes;
    }
    expect_no_failure(g, "bench");
    printf("bench %s tp=%d: the custom kernel beats NCCL inside a graph at every size up to %zu "
           "bytes (SLINFER_CUSTOM_ALLREDUCE_MAX_BYTES; measured up to %zu)\n",
           proto_name(), g->tp, up_to, MAX_ELEMS * 2);
}

/* The fused all-reduce + RMSNorm against the two kernels it replaces (no
 * bias, as in Llama), per call. */
static void bench_fused(group_t *g)
{
    static const int shapes[][2] = {{1, 4096}, {1, 8192}, {8, 4096}, {64, 4096}};

    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        bench_t b[4]; /* unfused eager, unfused graph, fused eager, fused graph */
        for (int k = 0; k < 4; k++) {
            b[k] = (bench_t){.n = (size_t)shapes[i][0] * shapes[i][1], .graph = k % 2,
                             .norm = 1 + k / 2, .rows = shapes[i][0], .h = shapes[i][1]};
            on_ranks(g, rank_bench, &b[k]);
        }
        printf("bench %s tp=%d all-reduce + RMSNorm n=%-2d h=%d: unfused eager %6.2f us, graph "
               "%6.2f us | fused eager %6.2f us, graph %6.2f us (graph: %.2fx)\n",
               proto_name(), g->tp, shapes[i][0], shapes[i][1], b[0].us, b[1].us, b[2].us, b[3].us,
               b[3].us > 0 ? b[1].us / b[3].us : 0.0);
    }
    expect_no_failure(g, "bench fused");
}

/* ---- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const size_t sizes[] = {1,     2,     3,     7,      8,      9,      15,
                                   17,    63,    100,   511,    1000,   4095,   4096,
                                   4097,  8191,  12345, 32768,  65537,  131072, 200003,
                                   262143, 262144, 262145, 524287, MAX_ELEMS};
    static const size_t quick_sizes[] = {1, 9, 4096, 4097, 65537, MAX_ELEMS};
    int do_bench = 0, only_tp = 0, ndev = 0, tested = 0;
    const char *only_protocol = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bench") == 0)
            do_bench = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--tp") == 0 && i + 1 < argc)
            only_tp = atoi(argv[++i]);
        else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc)
            only_protocol = argv[++i];
    }
    gpu_test_require_device();
    GPU_CHECK(cudaGetDeviceCount(&ndev));
    if (ndev < 2) {
        printf("SKIP: the all-reduce needs 2 GPUs; %d here\n", ndev);
        return SL_TEST_SKIP;
    }
    /* As the backend: NVLink SHARP is not wanted for NCCL's reference. */
    setenv("NCCL_NVLS_ENABLE", "0", 0);
    uint64_t rng = gc_seed();

    for (int pr = 0; pr < 2; pr++) {
        protocol = pr == 0 ? SL_CUDA_AR_BARRIER : SL_CUDA_AR_LAMPORT;
        if (only_protocol != NULL && strcmp(only_protocol, proto_name()) != 0)
            continue;
        for (int tp = 2; tp <= ndev && tp <= MAX_TP; tp++) {
            group_t g;
            if ((only_tp && tp != only_tp) || (quick && tp != 2))
                continue;
            if (!group_open(&g, tp, MAX_ELEMS * 2, GROUP_TIMEOUT_S)) {
                printf("SKIP tp=%d: not every pair of GPUs 0..%d has peer access\n", tp,
                       tp - 1);
                continue;
            }
            tested++;
            check_contract(&g);
            const size_t *list = quick ? quick_sizes : sizes;
            size_t count = quick ? sizeof(quick_sizes) / sizeof(quick_sizes[0])
                                 : sizeof(sizes) / sizeof(sizes[0]);
            for (size_t i = 0; i < count; i++)
                check_size(&g, list[i], &rng);
            check_stress(&g, &rng);
            check_fused(&g, &rng);
            check_fused_stress(&g, &rng);
            if (do_bench) {
                bench(&g);
                bench_fused(&g);
            }
            group_close(&g);
        }
        check_lonely(-1);
        check_lonely(0.1);
    }
    if (tested == 0) {
        printf("SKIP: no TP group with peer access between all its GPUs\n");
        return SL_TEST_SKIP;
    }
    return gc_finish();
}
