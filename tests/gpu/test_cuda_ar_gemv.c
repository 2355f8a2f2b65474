/*
 * test_cuda_ar_gemv.c - the all-reduce inside the next GEMV (TP > 1, batch
 * 1; sl_kernels.h, "The all-reduce inside the next GEMV"): each rank's
 * projection pushes its row into a static set of a one-shot all-reduce group
 * (sl_cuda_gemv_push_bf16 with sl_cuda_ar_set_push_target), and the gate/up
 * + SiLU and QKV + RoPE GEMVs after it wait for the peers' packets, add the
 * sum to the residual and normalise the row in their prologue
 * (sl_cuda_gemv_norm_t with a gather). Bit for bit against the unfused path's
 * roundings: the float32 sum in rank order rounded to bf16 (on the host),
 * sl_cuda_add_bias_bf16, sl_cuda_rmsnorm_bf16, and the same GEMV without
 * the norm; the residual stream each call leaves too.
 *
 * Two ranks: on GPUs 0 and 1 where both exist with peer access, else both on
 * GPU 0 (a slot is a slot, whichever GPU's memory it is in), so that the
 * protocol is checked on one GPU as well. Cases:
 *   - calls 0 .. 3 nsets - 1 in a row, fresh data every call: the sets wrap
 *     around, so a set that call i + 2 did not empty would hand a stale
 *     packet to call i + nsets; gate/up and QKV alternate as in a layer;
 *     with and without a bias; the rows of one TP 2 rank of Llama-3.1-8B;
 *   - the ranks' kernels queued at once, each rank's gather waiting for the
 *     other's push on the GPU (small grids where the ranks share a GPU: all
 *     of both must fit on it at once); and rank 1's push queued only 20 ms
 *     after rank 0's gather started waiting for it, so that a set left
 *     full since its last call would be read at once (and differ);
 *   - the kernel path it replaces (push GEMV, sl_cuda_ar_rmsnorm_bf16 with
 *     the pushed rows, gate/up on its xn) against the same reference;
 *   - a peer that never pushes: the wait gives up after the group's timeout
 *     and sl_cuda_ar_failed names who waited for whom.
 * Exit 77 without a GPU.
 *
 *   test_cuda_ar_gemv            the test
 *   test_cuda_ar_gemv --quick    the small shapes only (for compute-sanitizer)
 *   test_cuda_ar_gemv --bench    also time an O -> gate/up transition of a TP 2
 *                                rank of the 8B three ways (bench below)
 */
#include "config.h"

#include "backend/cpu/rope.h"
#include "gpu_compare.h"
#include "model/model.h"
#include "sl_kernels.h"

#define RANKS 2
#define EPS 1e-5f

/* One shape of a TP rank's layer: hidden h, the projection's input, the
 * rank's intermediate and heads. */
typedef struct {
    int h, proj_in, inter, heads, kv_heads, hd;
} shape_t;

typedef struct {
    int dev;
    cudaStream_t stream;
    void *w_proj;  /* [h, proj_in] the projection before (O or down) */
    void *w_gu;    /* [2 inter, h] */
    void *w_qkv;   /* [units hd, h] */
    void *in;      /* [proj_in] the projection's input */
    void *x;       /* [h] the projection's output, this rank's part */
    void *res[2];  /* [h] the residual stream, alternating */
    void *out;     /* [max(inter, units hd)] the fused GEMV's output */
    void *k_cache, *v_cache; /* [slots, kv_heads, hd] */
    /* the unfused path */
    void *ref_x, *ref_res, *ref_xn, *ref_out, *ref_k, *ref_v;
    void *norm_w;  /* [h] */
    void *bias;    /* [h] float32 */
    void *cos, *sin, *pos, *slot;
} rank_t;

typedef struct {
    shape_t s;
    sl_cuda_ar_t *ar;
    int nsets;
    rank_t r[RANKS];
    sl_bf16_t *res; /* [h] the residual stream on the host */
    int calls;      /* made so far: call c takes set c % nsets, res[c % 2] */
    int units, cache_elems;
    sl_rope_table_t *rope;
} group_t;

static int devices[RANKS];

static void on(const rank_t *r)
{
    GPU_CHECK(cudaSetDevice(r->dev));
}

static void *random_device(uint64_t *rng, size_t n, double lo, double hi)
{
    sl_bf16_t *h = gc_malloc(n * 2);
    gc_random_bf16(rng, h, NULL, n, lo, hi);
    void *d = gc_upload(h, n * 2);
    free(h);
    return d;
}

static void group_open(group_t *g, const shape_t *s, int nsets, double timeout_s, uint64_t *rng)
{
    const int slots = 64, tab = 4096;
    sl_rope_config_t rc = {.type = SL_ROPE_LLAMA3, .rotary_dim = s->hd, .theta = 500000.0,
                           .factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                           .original_max_position = 1024, .attention_factor = 1.0,
                           .inv_freq_dtype = SL_DTYPE_BF16};

    memset(g, 0, sizeof(*g));
    g->s = *s;
    g->nsets = nsets;
    g->units = s->heads + 2 * s->kv_heads;
    g->cache_elems = slots * s->kv_heads * s->hd;
    if (sl_cuda_ar_create(devices, RANKS, 1 << 16, timeout_s, SL_CUDA_AR_LAMPORT, &g->ar) !=
            SL_OK ||
        sl_cuda_ar_sets_create(g->ar, nsets, (size_t)s->h) != SL_OK ||
        sl_rope_table_create(&rc, tab, &g->rope) != SL_OK)
        exit(EXIT_FAILURE);
    sl_bf16_t *nw = gc_malloc((size_t)s->h * 2);
    float *bias = gc_malloc((size_t)s->h * 4);
    gc_random_bf16(rng, nw, NULL, (size_t)s->h, 0.5, 1.5);
    for (int i = 0; i < s->h; i++)
        bias[i] = (float)(gpu_test_uniform(rng) - 0.5);
    const size_t out = (size_t)(s->inter > g->units * s->hd ? s->inter : g->units * s->hd);
    const size_t half = (size_t)tab * (s->hd / 2);
    for (int k = 0; k < RANKS; k++) {
        rank_t *r = &g->r[k];
        r->dev = devices[k];
        on(r);
        GPU_CHECK(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking));
        /* the dot products of ~4096 terms stay well inside bf16's range */
        r->w_proj = random_device(rng, (size_t)s->h * s->proj_in, -0.05, 0.05);
        r->w_gu = random_device(rng, (size_t)2 * s->inter * s->h, -0.05, 0.05);
        r->w_qkv = random_device(rng, (size_t)g->units * s->hd * s->h, -0.05, 0.05);
        r->in = gc_device((size_t)s->proj_in * 2);
        r->x = gc_device((size_t)s->h * 2);
        r->res[0] = gc_device((size_t)s->h * 2);
        r->res[1] = gc_device((size_t)s->h * 2);
        r->out = gc_device(out * 2);
        r->ref_out = gc_device(out * 2);
        r->k_cache = gc_device((size_t)g->cache_elems * 2);
        r->v_cache = gc_device((size_t)g->cache_elems * 2);
        r->ref_k = gc_device((size_t)g->cache_elems * 2);
        r->ref_v = gc_device((size_t)g->cache_elems * 2);
        r->ref_x = gc_device((size_t)s->h * 2);
        r->ref_res = gc_device((size_t)s->h * 2);
        r->ref_xn = gc_device((size_t)s->h * 2);
        r->norm_w = gc_upload(nw, (size_t)s->h * 2);
        r->bias = gc_upload(bias, (size_t)s->h * 4);
        r->cos = gc_upload(g->rope->cos, half * 4);
        r->sin = gc_upload(g->rope->sin, half * 4);
        r->pos = gc_device(4);
        r->slot = gc_device(8);
    }
    g->res = gc_malloc((size_t)s->h * 2);
    gc_random_bf16(rng, g->res, NULL, (size_t)s->h, -2, 2);
    for (int k = 0; k < RANKS; k++) {
        on(&g->r[k]);
        GPU_CHECK(cudaMemcpy(g->r[k].res[0], g->res, (size_t)s->h * 2, cudaMemcpyHostToDevice));
    }
    free(nw), free(bias);
}

static void group_close(group_t *g)
{
    for (int k = 0; k < RANKS; k++) {
        rank_t *r = &g->r[k];
        on(r);
        GPU_CHECK(cudaStreamSynchronize(r->stream));
        void *bufs[] = {r->w_proj, r->w_gu,   r->w_qkv,  r->in,     r->x,      r->res[0],
                        r->res[1], r->out,    r->ref_out, r->k_cache, r->v_cache, r->ref_k,
                        r->ref_v,  r->ref_x,  r->ref_res, r->ref_xn, r->norm_w, r->bias,
                        r->cos,    r->sin,    r->pos,     r->slot};
        for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
            GPU_CHECK(cudaFree(bufs[i]));
        GPU_CHECK(cudaStreamDestroy(r->stream));
    }
    GPU_CHECK(cudaSetDevice(devices[0]));
    sl_cuda_ar_destroy(g->ar);
    sl_rope_table_free(g->rope);
    free(g->res);
}

/* Rank K's projection x = in W_proj^T on STREAM, pushed into static set SET
 * of every rank, or (SET < 0) into the slots of the group's next epoch, for
 * sl_cuda_ar_rmsnorm_bf16. */
static void push_on(group_t *g, int k, int set, cudaStream_t stream)
{
    rank_t *r = &g->r[k];
    const size_t h = (size_t)g->s.h;
    sl_cuda_ar_push_t target;
    on(r);
    if (!(set < 0 ? sl_cuda_ar_push_target(g->ar, k, h, &target)
                  : sl_cuda_ar_set_push_target(g->ar, k, set, h, &target)) ||
        sl_cuda_gemv_push_bf16(r->x, r->in, g->s.proj_in, r->w_proj, 1, g->s.h, g->s.proj_in,
                               &target, stream) != SL_OK)
        exit(EXIT_FAILURE);
}

/* push_on() on the rank's stream. */
static void push(group_t *g, int k, int set)
{
    push_on(g, k, set, g->r[k].stream);
}

/* Fresh random projection inputs on every rank. */
static void new_inputs(group_t *g, uint64_t *rng)
{
    const size_t n = (size_t)g->s.proj_in;
    sl_bf16_t *in = gc_malloc(n * 2);
    for (int k = 0; k < RANKS; k++) {
        gc_random_bf16(rng, in, NULL, n, -1, 1);
        on(&g->r[k]);
        GPU_CHECK(cudaMemcpy(g->r[k].in, in, n * 2, cudaMemcpyHostToDevice));
    }
    free(in);
}

/* X_ALL [RANKS][h] = every rank's projection output, once its stream is idle. */
static void take_parts(group_t *g, sl_bf16_t *const *x_all)
{
    for (int k = 0; k < RANKS; k++) {
        on(&g->r[k]);
        GPU_CHECK(cudaStreamSynchronize(g->r[k].stream));
        gc_download(x_all[k], g->r[k].x, (size_t)g->s.h * 2);
    }
}

/* Rank K's gate/up + SiLU (ROPE: QKV + RoPE) GEMV of call C with the
 * all-reduce and norm inside; BIAS: the projection's bias. */
static void gather_on(group_t *g, int k, int c, int rope, int bias, cudaStream_t stream)
{
    rank_t *r = &g->r[k];
    const shape_t *s = &g->s;
    sl_cuda_gemv_norm_t norm = {.weight = r->norm_w, .eps = EPS, .partial = r->x,
                                .bias = bias ? r->bias : NULL, .residual_out = r->res[(c + 1) % 2]};
    on(r);
    if (!sl_cuda_ar_set_gather(g->ar, k, c % g->nsets, (size_t)s->h, &norm.gather))
        exit(EXIT_FAILURE);
    const void *z = r->res[c % 2];
    sl_status_t st =
        rope ? sl_cuda_gemv_rope_store_bf16(r->out, z, s->h, r->w_qkv, NULL, 1, s->h, r->cos,
                                            r->sin, r->pos, r->slot, s->heads, s->kv_heads,
                                            s->hd, r->k_cache, r->v_cache, &norm, stream)
             : sl_cuda_gemv_silu_bf16(r->out, s->inter, z, s->h, r->w_gu, 1, s->inter, s->h,
                                      &norm, stream);
    if (st != SL_OK)
        exit(EXIT_FAILURE);
}

/* gather_on() on the rank's stream. */
static void gather(group_t *g, int k, int c, int rope, int bias)
{
    gather_on(g, k, c, rope, bias, g->r[k].stream);
}

/* Rank K's unfused path of the call the ranks' outputs X_ALL [RANKS][h]
 * came from: the sum, bias, RMSNorm with the host's residual, the GEMV. */
static void reference(group_t *g, int k, sl_bf16_t *const *x_all, int rope, int bias)
{
    rank_t *r = &g->r[k];
    const shape_t *s = &g->s;
    sl_bf16_t *sum = gc_malloc((size_t)s->h * 2);
    for (int e = 0; e < s->h; e++) {
        float acc = sl_bf16_to_float(x_all[0][e]);
        for (int q = 1; q < RANKS; q++)
            acc += sl_bf16_to_float(x_all[q][e]);
        sum[e] = sl_float_to_bf16(acc);
    }
    on(r);
    GPU_CHECK(cudaMemcpy(r->ref_x, sum, (size_t)s->h * 2, cudaMemcpyHostToDevice));
    GPU_CHECK(cudaMemcpy(r->ref_res, g->res, (size_t)s->h * 2, cudaMemcpyHostToDevice));
    if ((bias && sl_cuda_add_bias_bf16(r->ref_x, r->bias, 1, s->h, 0) != SL_OK) ||
        sl_cuda_rmsnorm_bf16(r->ref_xn, r->ref_x, r->ref_res, r->norm_w, 1, s->h, EPS, 0) !=
            SL_OK ||
        (rope ? sl_cuda_gemv_rope_store_bf16(r->ref_out, r->ref_xn, s->h, r->w_qkv, NULL, 1,
                                             s->h, r->cos, r->sin, r->pos, r->slot, s->heads,
                                             s->kv_heads, s->hd, r->ref_k, r->ref_v, NULL, 0)
              : sl_cuda_gemv_silu_bf16(r->ref_out, s->inter, r->ref_xn, s->h, r->w_gu, 1,
                                       s->inter, s->h, NULL, 0)) != SL_OK)
        exit(EXIT_FAILURE);
    GPU_CHECK(cudaDeviceSynchronize());
    free(sum);
}

/* Elements of device arrays A and B [n] (bf16) that differ. */
static size_t differ(const void *a, const void *b, size_t n)
{
    sl_bf16_t *ha = gc_malloc(n * 2), *hb = gc_malloc(n * 2);
    size_t d = 0;
    gc_download(ha, a, n * 2);
    gc_download(hb, b, n * 2);
    for (size_t i = 0; i < n; i++)
        d += ha[i] != hb[i];
    free(ha), free(hb);
    return d;
}

/* How run_calls queues the ranks' kernels. */
enum { IN_TURN, AT_ONCE, PEER_LATE };

/* CALLS more calls, each in the set after the last one's (the sequence
 * the protocol needs): fresh projection inputs, pushes, gathers (gate/up on
 * even calls, QKV on odd ones, as in a layer), each rank against its unfused
 * path. ORDER: IN_TURN, every push done before any gather; AT_ONCE, each
 * rank's push and gather queued, no wait on the host; PEER_LATE, rank 1's
 * queued 20 ms after rank 0's. */
static void run_calls(group_t *g, uint64_t *rng, int calls, int bias, int order,
                      const char *name)
{
    const shape_t *s = &g->s;
    size_t bad_out = 0, bad_res = 0, bad_cache = 0;
    const size_t q_elems = (size_t)s->heads * s->hd;
    sl_bf16_t *x_all[RANKS];
    for (int k = 0; k < RANKS; k++)
        x_all[k] = gc_malloc((size_t)s->h * 2);

    for (int n = 0; n < calls; n++) {
        const int i = g->calls++, set = i % g->nsets, rope = i % 2;
        const int32_t pos = (int32_t)(gpu_test_uniform(rng) * 4000);
        const int64_t slot = i % 64;
        new_inputs(g, rng);
        for (int k = 0; k < RANKS; k++) {
            on(&g->r[k]);
            GPU_CHECK(cudaMemcpy(g->r[k].pos, &pos, 4, cudaMemcpyHostToDevice));
            GPU_CHECK(cudaMemcpy(g->r[k].slot, &slot, 8, cudaMemcpyHostToDevice));
        }
        for (int k = 0; k < RANKS; k++) {
            if (order == PEER_LATE && k > 0)
                usleep(20000);
            push(g, k, set);
            if (order != IN_TURN)
                gather(g, k, i, rope, bias);
        }
        if (order == IN_TURN) {
            for (int k = 0; k < RANKS; k++) {
                on(&g->r[k]);
                GPU_CHECK(cudaStreamSynchronize(g->r[k].stream));
            }
            for (int k = 0; k < RANKS; k++)
                gather(g, k, i, rope, bias);
        }
        take_parts(g, x_all);
        for (int k = 0; k < RANKS; k++) {
            rank_t *r = &g->r[k];
            reference(g, k, x_all, rope, bias);
            bad_out += differ(r->out, r->ref_out, rope ? q_elems : (size_t)s->inter);
            bad_res += differ(r->res[(i + 1) % 2], r->ref_res, (size_t)s->h);
            if (rope) {
                bad_cache += differ(r->k_cache, r->ref_k, (size_t)g->cache_elems);
                bad_cache += differ(r->v_cache, r->ref_v, (size_t)g->cache_elems);
            }
        }
        gc_download(g->res, g->r[0].ref_res, (size_t)s->h * 2); /* the next call's residual */
    }
    char what[160];
    snprintf(what, sizeof(what), "%s h=%d inter=%d heads=%d/%d: %d calls over %d sets%s%s",
             name, s->h, s->inter, s->heads, s->kv_heads, calls, g->nsets, bias ? ", bias" : "",
             order == AT_ONCE ? ", at once" : order == PEER_LATE ? ", rank 1 late" : "");
    printf("     (elements differing: outputs %zu, residual %zu, caches %zu)\n", bad_out, bad_res,
           bad_cache);
    gc_report(what, bad_out + bad_res + bad_cache == 0 ? 0 : INFINITY, 0, 0);
    for (int k = 0; k < RANKS; k++)
        free(x_all[k]);
}

/* The kernel path the backend takes without SLINFER_AR_IN_GEMV, with its
 * pushes (SLINFER_AR_PUSH): push GEMV into the slots of the epoch's parity,
 * sl_cuda_ar_rmsnorm_bf16 (pushed), gate/up + SiLU on its xn; against the
 * same unfused reference, for CALLS calls on a group of its own (the
 * all-reduce kernels' Lamport waits and sums, on one GPU as on two). */
static void check_kernel_path(const shape_t *s, int calls, int bias, uint64_t *rng)
{
    group_t g;
    size_t bad_out = 0, bad_res = 0;
    sl_bf16_t *x_all[RANKS];
    void *xn[RANKS];

    group_open(&g, s, 3, 10.0, rng);
    for (int k = 0; k < RANKS; k++) {
        x_all[k] = gc_malloc((size_t)s->h * 2);
        on(&g.r[k]);
        xn[k] = gc_device((size_t)s->h * 2);
    }
    for (int i = 0; i < calls; i++) {
        new_inputs(&g, rng);
        for (int k = 0; k < RANKS; k++)
            push(&g, k, -1);
        take_parts(&g, x_all);
        for (int k = 0; k < RANKS; k++) {
            rank_t *r = &g.r[k];
            on(r);
            if (sl_cuda_ar_rmsnorm_bf16(g.ar, k, r->x, bias ? r->bias : NULL, r->res[0],
                                        r->norm_w, xn[k], 1, s->h, EPS, 1, r->stream) != SL_OK ||
                sl_cuda_gemv_silu_bf16(r->out, s->inter, xn[k], s->h, r->w_gu, 1, s->inter,
                                       s->h, NULL, r->stream) != SL_OK)
                exit(EXIT_FAILURE);
        }
        for (int k = 0; k < RANKS; k++) {
            rank_t *r = &g.r[k];
            on(r);
            GPU_CHECK(cudaStreamSynchronize(r->stream));
            reference(&g, k, x_all, 0, bias);
            bad_out += differ(r->out, r->ref_out, (size_t)s->inter);
            bad_res += differ(r->res[0], r->ref_res, (size_t)s->h);
        }
        gc_download(g.res, g.r[0].ref_res, (size_t)s->h * 2);
    }
    char what[160];
    snprintf(what, sizeof(what), "the kernel path h=%d inter=%d: %d calls%s", s->h, s->inter,
             calls, bias ? ", bias" : "");
    printf("     (elements differing: outputs %zu, residual %zu)\n", bad_out, bad_res);
    int waiter, peer;
    const int failed = sl_cuda_ar_failed(g.ar, &waiter, &peer);
    gc_report(what, bad_out + bad_res == 0 && !failed ? 0 : INFINITY, 0, 0);
    for (int k = 0; k < RANKS; k++) {
        on(&g.r[k]);
        GPU_CHECK(cudaFree(xn[k]));
        free(x_all[k]);
    }
    group_close(&g);
}

/* Rank 0 gathers a call rank 1 never pushed: the wait gives up after the
 * group's timeout, the stream completes, and the group says who waited. */
static void check_missing_peer(uint64_t *rng)
{
    const shape_t s = {512, 256, 64, 2, 1, 64};
    group_t g;
    int waiter = -1, peer = -1;

    group_open(&g, &s, 3, 0.2, rng);
    push(&g, 0, 0);
    gather(&g, 0, 0, 0, 0);
    on(&g.r[0]);
    GPU_CHECK(cudaStreamSynchronize(g.r[0].stream));
    const int failed = sl_cuda_ar_failed(g.ar, &waiter, &peer);
    printf("     (failed %d: rank %d waited for rank %d)\n", failed, waiter, peer);
    gc_report("a peer that never pushes: the wait gives up, rank 0 waited for 1",
              failed && waiter == 0 && peer == 1 ? 0 : INFINITY, 0, 0);
    group_close(&g);
}

/*
 * What an O -> gate/up transition costs a rank of the 8B at TP 2, per call,
 * three ways: the path the backend takes now with SLINFER_AR_PUSH=1 (push
 * GEMV, all-reduce + norm kernel, gate/up + SiLU GEMV); the all-reduce inside
 * the GEMV (push GEMV into the call's set, gate/up + SiLU with the gather);
 * and TP 1's norm inside the GEMV without any all-reduce (the O GEMV adding
 * into the residual, gate/up + SiLU normalising it) as the floor; then the
 * kernels alone. Where the ranks share a GPU their kernels run one after
 * another on one stream (the peers' packets are there before anyone waits)
 * and a rank's cost is half the time; with two GPUs each rank has its own
 * stream and the time is the group's, link latency included.
 */
enum { B_KERNELS, B_GATHER, B_TP1, B_PUSH, B_RESIDUAL, B_GATHER_ONLY, B_NORM_ONLY, B_VARIANTS };
static const char *const bench_names[B_VARIANTS] = {
    "push, all-reduce + norm kernel, gate/up",
    "push into the set, gate/up with the gather",
    "TP 1: O into the residual, gate/up with the norm",
    "alone: the push GEMV (O)",
    "alone: the O GEMV into the residual",
    "alone: gate/up with the gather (packets there)",
    "alone: gate/up with the norm"};

/* Rank K's kernels of variant V's PHASE (0: the projection, 1: the
 * all-reduce kernel, 2: gate/up) for call C, on ST. */
static void bench_enqueue(group_t *g, int v, int phase, int k, int c, cudaStream_t st)
{
    const shape_t *s = &g->s;
    rank_t *r = &g->r[k];
    sl_cuda_gemv_norm_t norm = {.weight = r->norm_w, .eps = EPS};
    sl_status_t rc = SL_OK;
    const int pushes = v == B_KERNELS || v == B_GATHER || v == B_PUSH;
    const int residual = v == B_TP1 || v == B_RESIDUAL;

    on(r);
    if (phase == 0 && pushes) {
        push_on(g, k, v == B_KERNELS ? -1 : c % g->nsets, st);
    } else if (phase == 0 && residual) {
        rc = sl_cuda_gemv_residual_bf16(r->res[0], r->in, r->w_proj, s->h, s->proj_in, st);
    } else if (phase == 1 && v == B_KERNELS) {
        rc = sl_cuda_ar_rmsnorm_bf16(g->ar, k, r->x, NULL, r->ref_res, r->norm_w, r->ref_xn, 1,
                                     s->h, EPS, 1, st);
    } else if (phase == 2 && (v == B_GATHER || v == B_GATHER_ONLY)) {
        gather_on(g, k, c, 0, 0, st);
    } else if (phase == 2 && v == B_KERNELS) {
        rc = sl_cuda_gemv_silu_bf16(r->out, s->inter, r->ref_xn, s->h, r->w_gu, 1, s->inter,
                                    s->h, NULL, st);
    } else if (phase == 2 && (v == B_TP1 || v == B_NORM_ONLY)) {
        rc = sl_cuda_gemv_silu_bf16(r->out, s->inter, r->res[0], s->h, r->w_gu, 1, s->inter,
                                    s->h, &norm, st);
    }
    if (rc != SL_OK)
        exit(EXIT_FAILURE);
}

static void bench(uint64_t *rng)
{
    static const shape_t s = {4096, 2048, 7168, 16, 4, 128};
    const int reps = 40, shared = devices[0] == devices[1];
    group_t g;
    cudaEvent_t ev[2][RANKS];

    group_open(&g, &s, 5, 10.0, rng); /* 40 calls a round: a whole number of set cycles */
    for (int k = 0; k < RANKS; k++) {
        on(&g.r[k]);
        GPU_CHECK(cudaMemset(g.r[k].in, 0x3c, (size_t)s.proj_in * 2));
        GPU_CHECK(cudaMemcpy(g.r[k].ref_res, g.res, (size_t)s.h * 2, cudaMemcpyHostToDevice));
        for (int e = 0; e < 2; e++)
            GPU_CHECK(cudaEventCreate(&ev[e][k]));
    }
    for (int v = 0; v < B_VARIANTS; v++) {
        double best = 1e30;
        /* alone, the gather takes call 0 every time: set 0 stays full (it
         * empties set 2), the last push filled it (40 calls a round) */
        const int advance = v == B_GATHER;
        for (int round = 0; round < 4; round++) {
            on(&g.r[0]);
            GPU_CHECK(cudaDeviceSynchronize());
            GPU_CHECK(cudaEventRecord(ev[0][0], g.r[0].stream));
            for (int k = 1; k < RANKS; k++) {
                on(&g.r[k]);
                GPU_CHECK(cudaStreamWaitEvent(g.r[k].stream, ev[0][0], 0));
            }
            for (int c = 0; c < reps; c++) {
                const int call = v == B_GATHER_ONLY ? 0 : g.calls;
                for (int phase = 0; phase < 3; phase++)
                    for (int k = 0; k < RANKS; k++)
                        bench_enqueue(&g, v, phase, k, call,
                                      shared ? g.r[0].stream : g.r[k].stream);
                g.calls += advance || v == B_PUSH;
            }
            for (int k = 1; k < RANKS; k++) {
                on(&g.r[k]);
                GPU_CHECK(cudaEventRecord(ev[1][k], g.r[k].stream));
                on(&g.r[0]);
                GPU_CHECK(cudaStreamWaitEvent(g.r[0].stream, ev[1][k], 0));
            }
            on(&g.r[0]);
            GPU_CHECK(cudaEventRecord(ev[1][0], g.r[0].stream));
            GPU_CHECK(cudaEventSynchronize(ev[1][0]));
            float ms = 0;
            GPU_CHECK(cudaEventElapsedTime(&ms, ev[0][0], ev[1][0]));
            const double us = ms * 1e3 / reps / (shared ? RANKS : 1);
            best = us < best ? us : best;
        }
        printf("bench %s: %.1f us a call%s\n", bench_names[v], best,
               shared ? " (a rank's share of one GPU)" : "");
    }
    int waiter, peer;
    if (sl_cuda_ar_failed(g.ar, &waiter, &peer))
        printf("FAIL bench: rank %d gave up waiting for %d\n", waiter, peer), gc_failures++;
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < RANKS; k++)
            cudaEventDestroy(ev[e][k]);
    group_close(&g);
}

int main(int argc, char **argv)
{
    /* one TP 2 rank of Llama-3.1-8B (O: 2048 -> 4096; gate/up 7168 rows a
     * half; 16 q, 4 KV heads) and a small one whose grids all fit at once */
    static const shape_t tp2_8b = {4096, 2048, 7168, 16, 4, 128};
    static const shape_t small = {512, 256, 64, 2, 1, 64};
    /* rows of 8192 (a rank of the 70B: 1024 packets, more than one a thread
     * of any build): the two-pass gather_row, not gather_norm_row */
    static const shape_t wide_rows = {8192, 1024, 1536, 8, 2, 128};
    int ndev = 0, p2p = 0;
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int do_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;

    gpu_test_require_device();
    GPU_CHECK(cudaGetDeviceCount(&ndev));
    devices[0] = 0;
    devices[1] = 0;
    if (ndev >= 2) {
        int pair[2] = {0, 1};
        if (sl_cuda_ar_p2p_ok(pair, 2, &p2p) != SL_OK)
            return EXIT_FAILURE;
        if (p2p)
            devices[1] = 1;
    }
    printf("ranks on GPUs %d and %d\n", devices[0], devices[1]);
    uint64_t rng = gc_seed();
    group_t g;

    if (!quick) {
        group_open(&g, &tp2_8b, 5, 10.0, &rng);
        run_calls(&g, &rng, 15, 0, IN_TURN, "TP 2 rank of the 8B");
        run_calls(&g, &rng, 6, 1, IN_TURN, "TP 2 rank of the 8B");
        if (devices[1] != devices[0]) { /* two GPUs: every grid can wait for the other's */
            run_calls(&g, &rng, 10, 0, AT_ONCE, "TP 2 rank of the 8B");
            run_calls(&g, &rng, 10, 1, PEER_LATE, "TP 2 rank of the 8B");
        }
        group_close(&g);
    }

    group_open(&g, &small, 3, 10.0, &rng);
    run_calls(&g, &rng, 9, 1, IN_TURN, "small");
    run_calls(&g, &rng, 9, 0, AT_ONCE, "small");
    run_calls(&g, &rng, 9, 1, PEER_LATE, "small");
    group_close(&g);

    group_open(&g, &wide_rows, 4, 10.0, &rng);
    run_calls(&g, &rng, 9, 1, IN_TURN, "rows of 8192");
    if (devices[1] != devices[0])
        run_calls(&g, &rng, 8, 0, AT_ONCE, "rows of 8192");
    group_close(&g);

    check_kernel_path(&small, 7, 1, &rng);
    check_kernel_path(&wide_rows, 4, 1, &rng);
    if (!quick)
        check_kernel_path(&tp2_8b, 5, 0, &rng);
    check_missing_peer(&rng);
    if (do_bench)
        bench(&rng);
    return gc_finish();
}
