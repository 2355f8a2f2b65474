/*
 * test_cuda_sampling.c - the GPU sampler (gpu/sampler.cu and the CUDA
 * backend's forward_sample) against its C twin, sl_sampler_sample
 * (engine/sampler.c), on the same float32 logits.
 *
 *  1. Kernel: rows of random logits (vocab 7, 1505, 32000, 128256, 151936;
 *     narrow, wide and huge spreads, heavy ties, +-0, -inf entries, rows
 *     with one finite entry or none) x random parameters (greedy with
 *     penalties, temperature alone, top-k from 1 to vocab - 1, top-p from
 *     0.01 to 0.999, min-p, all of them together, logprobs -1..20, n 1..4,
 *     min_tokens' suppression) -> results vs the C sampler.
 *  2. The same rows in vocab-parallel segments (the TP 2 layout): results
 *     bitwise equal to the contiguous run; the marks scratch is all zero
 *     after every launch.
 *  3. Determinism: each row alone (a batch of one, in reverse order), and
 *     the same launch twice: bitwise equal results (same seed, stream and
 *     counter -> same token whatever the batch).
 *  4. Backend: forward_sample on the CUDA backend (graph decode, eager
 *     steps of more rows than a logits chunk, prefill rows) vs the host
 *     sampler on the same backend's logits; and whole engines on generated
 *     models and the fixture tiny-llama3 with sampled requests (penalties,
 *     min_tokens, logprobs, n > 1), through forward_sample vs with it
 *     disabled (--gpu-sampling off): TP 1 and, with two GPUs, TP 2.
 *
 * Bounds, and why: every step mirrors the C arithmetic (float where it uses
 * float, double where it uses double), so filters, probabilities and the
 * draw's target agree to rounding: double sums in another order (~1e-16
 * relative), top-p's masses in fixed point (< 1e-9 relative), CUDA's exp
 * within an ulp of glibc's. A draw differs only if u * total lands that
 * close to the boundary between two tokens, or top-p's cut falls that
 * close to a token's cumulative mass. Asserted: >= 99.5% of sampled tokens
 * equal (expected: all, or a handful of boundary cases, which are counted
 * and printed), 100% for greedy rows and top-k = 1; logprobs within 1e-4
 * (they differ by ~1e-7); top-N ids equal, their logprobs within 1e-4;
 * engines: the same tokens for >= 99% of requests.
 *
 * One file past the usual 800 lines: the four parts share the row
 * generator and the comparison.
 *
 * --quick: small vocabularies and no backend part (for compute-sanitizer).
 * --bench: rows/s of the sampler for 256 x 128256 under a few settings.
 * --tp N: the backend part at that TP only. Exit 77 without a GPU.
 */
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include "backend/cuda/cuda_backend.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "gpu_compare.h"
#include "model/model.h"
#include "sl_kernels.h"

#define LP_TOL 1e-4

/* One test row: its logits' shape (for messages), parameters and history. */
typedef struct {
    int kind;
    sl_sample_row_t row;
    int32_t *prompt, *output, *sup;
    size_t np, no, nsup;
} case_t;

/* What the comparisons counted. */
static struct {
    long samples, equal, strict, strict_equal, lp_checked, lp_bad, top_bad;
    double lp_worst;
} st;

static const char *const kinds[] = {"normal",     "ties",          "-inf 30%",  "huge spread",
                                    "tiny spread", "one spike",    "one finite", "llm-like",
                                    "all -inf",    "+-0 and ties", "a model's"};
#define NUM_KINDS 10 /* generated; the last is the backend's logits */

static double normal(uint64_t *rng)
{
    double u = gpu_test_uniform(rng), v = gpu_test_uniform(rng);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static void gen_logits(uint64_t *rng, int vocab, int kind, float *out)
{
    double scale = (double[]){0.01, 1, 3, 10}[(int)(gpu_test_uniform(rng) * 4)];
    for (int v = 0; v < vocab; v++) {
        double x;
        switch (kind) {
        case 0: x = normal(rng) * scale; break;
        case 1: x = floor(gpu_test_uniform(rng) * 4); break;
        case 2: x = gpu_test_uniform(rng) < 0.3 ? -INFINITY : normal(rng) * 3; break;
        case 3: x = normal(rng) * 50; break;
        case 4: x = 5 + gpu_test_uniform(rng) * 1e-3; break;
        case 5: x = normal(rng) * 2; break;
        case 6: x = -INFINITY; break;
        case 7: x = normal(rng) * 2.5 + (gpu_test_uniform(rng) < 0.001 ? 15 : 0); break;
        case 8: x = -INFINITY; break;
        default: x = gpu_test_uniform(rng) < 0.5 ? (gpu_test_uniform(rng) < 0.5 ? -0.0 : 0.0)
                                                 : floor(gpu_test_uniform(rng) * 3) - 1;
        }
        out[v] = (float)x;
    }
    if (kind == 5)
        out[(int)(gpu_test_uniform(rng) * vocab)] = 20.0f;
    if (kind == 6)
        for (int k = 0; k < 1 + (int)(gpu_test_uniform(rng) * 3); k++)
            out[(int)(gpu_test_uniform(rng) * vocab)] = (float)normal(rng);
}

static int32_t *gen_ids(uint64_t *rng, int vocab, size_t n, int narrow)
{
    int32_t *ids = gc_malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) /* NARROW: few distinct ids, many repeats */
        ids[i] = (int32_t)(gpu_test_uniform(rng) * (narrow ? (vocab < 20 ? vocab : 20) : vocab));
    return ids;
}

/* Random parameters of test row I. */
static void gen_case(uint64_t *rng, int vocab, int i, case_t *c)
{
    sl_sample_row_t *r = &c->row;
    double u = gpu_test_uniform(rng);

    memset(c, 0, sizeof(*c));
    c->kind = i % NUM_KINDS;
    if (c->kind == 8 && gpu_test_uniform(rng) < 0.5)
        c->kind = 0; /* all -inf only now and then */
    *r = (sl_sample_row_t){.temperature = 1.0f, .top_p = 1.0f, .repetition_penalty = 1.0f,
                           .logprobs = -1, .num_samples = 1};
    int mode = (i / NUM_KINDS + i) % 8;
    static const float temps[] = {0.3f, 0.7f, 1.0f, 1.5f};
    static const float tops[] = {0.01f, 0.5f, 0.9f, 0.95f, 0.999f};
    static const float minps[] = {0.01f, 0.05f, 0.2f, 1.0f};
    int ks[] = {1, 2, 5, 50, vocab - 1};
    r->temperature = temps[(int)(gpu_test_uniform(rng) * 4)];
    switch (mode) {
    case 0: /* greedy with penalties */
        r->temperature = 0;
        r->repetition_penalty = u < 0.5 ? 1.3f : 0.8f;
        r->frequency_penalty = 0.5f;
        r->presence_penalty = -0.3f;
        break;
    case 1: break; /* temperature alone */
    case 2: r->top_k = ks[(int)(gpu_test_uniform(rng) * 5)]; break;
    case 3: r->top_p = tops[(int)(gpu_test_uniform(rng) * 5)]; break;
    case 4: r->min_p = minps[(int)(gpu_test_uniform(rng) * 4)]; break;
    case 5: /* everything */
        r->top_k = ks[(int)(gpu_test_uniform(rng) * 5)];
        r->top_p = tops[(int)(gpu_test_uniform(rng) * 5)];
        r->min_p = u < 0.5 ? 0.02f : 0.0f;
        r->repetition_penalty = 1.1f;
        r->frequency_penalty = 0.2f;
        r->presence_penalty = 0.1f;
        break;
    case 6: r->top_k = 1; break;
    default: /* greedy, no penalties but logprobs / suppression */
        r->temperature = u < 0.5 ? 0.0f : 1e-6f;
    }
    if (r->top_k >= vocab || r->top_k < 0)
        r->top_k = 0;
    r->logprobs = gpu_test_uniform(rng) < 0.4 ? -1 : (int32_t)(gpu_test_uniform(rng) * 21);
    r->num_samples = 1 + (int32_t)(gpu_test_uniform(rng) * 4);
    r->suppress_stop = gpu_test_uniform(rng) < 0.25;
    r->seed = (uint64_t)(gpu_test_uniform(rng) * 1e12);
    r->stream = (uint64_t)(gpu_test_uniform(rng) * 1e12);
    r->counter = (uint64_t)(gpu_test_uniform(rng) * 1e5);
    int narrow = gpu_test_uniform(rng) < 0.5;
    c->np = (size_t)(gpu_test_uniform(rng) * 300);
    c->no = (size_t)(gpu_test_uniform(rng) * 100);
    c->nsup = (size_t)(gpu_test_uniform(rng) * 6);
    c->prompt = gen_ids(rng, vocab, c->np, narrow);
    c->output = gen_ids(rng, vocab, c->no, narrow);
    c->sup = gen_ids(rng, vocab, c->nsup, 0);
}

static void free_cases(case_t *c, int n)
{
    for (int i = 0; i < n; i++)
        free(c[i].prompt), free(c[i].output), free(c[i].sup);
}

static sl_sample_history_t hist_of(const case_t *c)
{
    return (sl_sample_history_t){.prompt = c->prompt, .prompt_len = c->np, .output = c->output,
                                 .output_len = c->no, .suppress = c->sup,
                                 .num_suppress = c->nsup};
}

static int num_samples(const case_t *c)
{
    return c->row.num_samples > 0 ? c->row.num_samples : 1;
}

/* ---- running the kernel ------------------------------------------------------------ */

typedef struct {
    int vocab, rows, segs;        /* segs: 1 contiguous, 2 the TP 2 layout */
    float *d_logits;
    int64_t ld, seg_stride;
    int32_t seg_vocab;
    float *d_work;
    int32_t *d_marks;
} launch_t;

/* LOGITS [rows, vocab] to the device in LAUNCH's layout. */
static void launch_init(launch_t *L, const float *logits, int rows, int vocab, int segs)
{
    memset(L, 0, sizeof(*L));
    L->vocab = vocab, L->rows = rows, L->segs = segs;
    L->seg_vocab = (vocab + segs - 1) / segs;
    L->ld = L->seg_vocab;
    L->seg_stride = (int64_t)rows * L->ld;
    size_t n = (size_t)segs * L->seg_stride;
    float *h = gc_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        h[i] = NAN; /* the padding of the last segment must never be read */
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < vocab; v++) {
            int s = v / L->seg_vocab;
            h[(size_t)s * L->seg_stride + (size_t)i * L->ld + (v - s * L->seg_vocab)] =
                logits[(size_t)i * vocab + v];
        }
    L->d_logits = gc_upload(h, n * sizeof(float));
    free(h);
    L->d_work = gc_device((size_t)rows * vocab * sizeof(float));
    L->d_marks = gc_device((size_t)rows * vocab * sizeof(int32_t));
    GPU_CHECK(cudaMemset(L->d_marks, 0, (size_t)rows * vocab * sizeof(int32_t)));
}

static void launch_free(launch_t *L)
{
    GPU_CHECK(cudaFree(L->d_logits));
    GPU_CHECK(cudaFree(L->d_work));
    GPU_CHECK(cudaFree(L->d_marks));
}

/* Samples the rows of C (row i from logits row ROW_OF[i], or i) on the GPU;
 * returns results [sum of num_samples] (malloc'ed) and, when TIME_MS is
 * given, the mean time of ITERS launches. */
static sl_sample_result_t *run_gpu(const launch_t *L, const case_t *c, int n,
                                   const int *row_of, int iters, double *time_ms)
{
    sl_sample_row_t *params = gc_malloc((size_t)n * sizeof(*params));
    sl_cuda_sample_meta_t *meta = gc_malloc((size_t)n * sizeof(*meta));
    size_t nids = 0, nres = 0;

    for (int i = 0; i < n; i++)
        nids += c[i].np + c[i].no + c[i].nsup;
    int32_t *ids = gc_malloc((nids + 1) * sizeof(int32_t));
    nids = 0;
    for (int i = 0; i < n; i++) {
        params[i] = c[i].row;
        meta[i] = (sl_cuda_sample_meta_t){.prompt = (int64_t)nids, .prompt_len = (int32_t)c[i].np};
        memcpy(ids + nids, c[i].prompt, c[i].np * 4), nids += c[i].np;
        meta[i].output = (int64_t)nids, meta[i].output_len = (int32_t)c[i].no;
        memcpy(ids + nids, c[i].output, c[i].no * 4), nids += c[i].no;
        meta[i].suppress = (int64_t)nids, meta[i].num_suppress = (int32_t)c[i].nsup;
        memcpy(ids + nids, c[i].sup, c[i].nsup * 4), nids += c[i].nsup;
        meta[i].result = (int32_t)nres;
        nres += (size_t)num_samples(&c[i]);
    }
    sl_sample_row_t *d_params = gc_upload(params, (size_t)n * sizeof(*params));
    sl_cuda_sample_meta_t *d_meta = gc_upload(meta, (size_t)n * sizeof(*meta));
    int32_t *d_ids = gc_upload(ids, (nids + 1) * sizeof(int32_t));
    sl_sample_result_t *d_res = gc_device(nres * sizeof(sl_sample_result_t));
    sl_cuda_sample_args_t a = {
        .logits = L->d_logits, .ld = L->ld, .seg_stride = L->seg_stride,
        .seg_vocab = L->seg_vocab, .vocab = L->vocab, .rows = n, .params = d_params,
        .meta = d_meta, .ids = d_ids, .work = L->d_work, .marks = L->d_marks, .results = d_res,
    };
    cudaEvent_t t0, t1;
    GPU_CHECK(cudaEventCreate(&t0));
    GPU_CHECK(cudaEventCreate(&t1));
    GPU_CHECK(cudaEventRecord(t0, 0));
    for (int it = 0; it < (iters > 0 ? iters : 1); it++) {
        if (row_of == NULL) {
            if (sl_cuda_sample(&a, 0) != SL_OK)
                exit(EXIT_FAILURE);
            continue;
        }
        /* Rows elsewhere than at their own index: one launch (batch) each. */
        for (int i = 0; i < n; i++) {
            sl_cuda_sample_args_t one = a;
            one.logits = L->d_logits + (size_t)row_of[i] * L->ld;
            one.rows = 1;
            one.params = d_params + i;
            one.meta = d_meta + i;
            if (sl_cuda_sample(&one, 0) != SL_OK)
                exit(EXIT_FAILURE);
        }
    }
    GPU_CHECK(cudaEventRecord(t1, 0));
    GPU_CHECK(cudaEventSynchronize(t1));
    if (time_ms != NULL) {
        float ms;
        GPU_CHECK(cudaEventElapsedTime(&ms, t0, t1));
        *time_ms = ms / (iters > 0 ? iters : 1);
    }
    GPU_CHECK(cudaEventDestroy(t0));
    GPU_CHECK(cudaEventDestroy(t1));
    sl_sample_result_t *res = gc_malloc(nres * sizeof(*res));
    gc_download(res, d_res, nres * sizeof(*res));

    /* The marks must be left zero for the next launch. */
    size_t nm = (size_t)L->rows * L->vocab;
    int32_t *marks = gc_malloc(nm * sizeof(int32_t));
    gc_download(marks, L->d_marks, nm * sizeof(int32_t));
    size_t dirty = 0;
    for (size_t i = 0; i < nm; i++)
        dirty += marks[i] != 0;
    if (dirty != 0) {
        printf("FAIL marks: %zu nonzero after the launch\n", dirty);
        gc_failures++;
    }
    free(marks);
    GPU_CHECK(cudaFree(d_params));
    GPU_CHECK(cudaFree(d_meta));
    GPU_CHECK(cudaFree(d_ids));
    GPU_CHECK(cudaFree(d_res));
    free(params), free(meta), free(ids);
    return res;
}

/* ---- comparing --------------------------------------------------------------------- */

static int same_float(float a, float b, double tol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b))
        return a == b;
    return fabs((double)a - (double)b) <= tol;
}

/* GPU results G vs the C sampler's W for case C on LOGITS ([vocab]). */
static void compare(const char *what, const case_t *c, const float *logits, int vocab,
                    const sl_sample_result_t *g, const sl_sample_result_t *w)
{
    const sl_sample_row_t *r = &c->row;
    int strict = r->temperature < SL_SAMPLE_GREEDY_EPS || r->top_k == 1;
    double lse = sl_sample_logsumexp(logits, vocab);

    for (int j = 0; j < num_samples(c); j++) {
        int eq = g[j].token == w[j].token;
        st.samples++, st.equal += eq;
        if (strict)
            st.strict++, st.strict_equal += eq;
        if (!eq && (strict || st.samples - st.equal <= 10))
            printf("%s %s: row '%s' T=%g k=%d p=%g min_p=%g rep=%g sup=%d sample %d: GPU %d, "
                   "C %d\n",
                   strict ? "FAIL" : "note", what, kinds[c->kind], (double)r->temperature,
                   r->top_k, (double)r->top_p, (double)r->min_p,
                   (double)r->repetition_penalty, r->suppress_stop, j, g[j].token, w[j].token);
        if (g[j].token < 0 || g[j].token >= vocab) {
            printf("FAIL %s: token %d outside the vocabulary\n", what, g[j].token);
            gc_failures++;
            continue;
        }
        if (r->logprobs < 0) {
            if (g[j].num_top != 0 || g[j].logprob != 0.0f) {
                printf("FAIL %s: logprobs without asking\n", what);
                gc_failures++;
            }
            continue;
        }
        /* The GPU token's raw logprob, whichever token it drew. */
        float want = (float)((double)logits[g[j].token] - lse);
        st.lp_checked++;
        if (!same_float(g[j].logprob, want, LP_TOL)) {
            st.lp_bad++;
            printf("FAIL %s: logprob of %d: GPU %.9g, C %.9g\n", what, g[j].token,
                   (double)g[j].logprob, (double)want);
        } else if (isfinite(want)) {
            double d = fabs((double)g[j].logprob - want);
            st.lp_worst = d > st.lp_worst ? d : st.lp_worst;
        }
        int bad = g[j].num_top != w[j].num_top;
        for (int k = 0; !bad && k < w[j].num_top; k++)
            bad = g[j].top_ids[k] != w[j].top_ids[k] ||
                  !same_float(g[j].top_logprobs[k], w[j].top_logprobs[k], LP_TOL);
        if (bad) {
            st.top_bad++;
            printf("FAIL %s: top %d alternatives differ (GPU %d, first %d; C %d, first %d)\n",
                   what, r->logprobs, g[j].num_top, g[j].top_ids[0], w[j].num_top,
                   w[j].top_ids[0]);
        }
    }
}

/* The bounds of the header over everything PART compared. */
static void report_totals(const char *part)
{
    char what[96];

    printf("%s: %ld samples, %ld equal to the C sampler (%.3f%%); greedy and top-k 1: %ld of "
           "%ld; logprobs: %ld checked, worst diff %.2e\n",
           part, st.samples, st.equal, 100.0 * st.equal / (st.samples ? st.samples : 1),
           st.strict_equal, st.strict, st.lp_checked, st.lp_worst);
    snprintf(what, sizeof(what), "%s: tokens equal to the C sampler (>= 99.5%%)", part);
    gc_report(what, st.equal * 1000 >= 995 * st.samples ? 0 : INFINITY, 0, 0);
    snprintf(what, sizeof(what), "%s: greedy and top-k 1 tokens all equal", part);
    gc_report(what, st.strict_equal == st.strict ? 0 : INFINITY, 0, 0);
    snprintf(what, sizeof(what), "%s: logprobs and top alternatives within 1e-4", part);
    gc_report(what, st.lp_bad == 0 && st.top_bad == 0 ? 0 : INFINITY, 0, 0);
}

static long total_samples(const case_t *c, int n)
{
    long t = 0;
    for (int i = 0; i < n; i++)
        t += num_samples(&c[i]);
    return t;
}

/* Parts 1-3 for one vocabulary size. */
static void kernel_tests(int vocab, int rows, uint64_t seed)
{
    uint64_t rng = seed * 1000003 + (uint64_t)vocab;
    float *logits = gc_malloc((size_t)rows * vocab * sizeof(float));
    case_t *c = gc_malloc((size_t)rows * sizeof(*c));
    sl_sampler_t *sampler;
    char what[64];

    for (int i = 0; i < rows; i++) {
        gen_case(&rng, vocab, i, &c[i]);
        gen_logits(&rng, vocab, c[i].kind, logits + (size_t)i * vocab);
    }
    long nres = total_samples(c, rows);
    sl_sample_result_t *want = gc_malloc((size_t)nres * sizeof(*want));
    if (sl_sampler_create(vocab, &sampler) != SL_OK)
        exit(EXIT_FAILURE);
    for (int i = 0, at = 0; i < rows; at += num_samples(&c[i]), i++) {
        sl_sample_history_t h = hist_of(&c[i]);
        sl_sampler_sample(sampler, logits + (size_t)i * vocab, &c[i].row, &h, want + at);
    }
    sl_sampler_free(sampler);

    long before = st.samples - st.equal, before_strict = st.strict - st.strict_equal;
    launch_t L;
    launch_init(&L, logits, rows, vocab, 1);
    sl_sample_result_t *got = run_gpu(&L, c, rows, NULL, 1, NULL);
    snprintf(what, sizeof(what), "vocab %d", vocab);
    for (int i = 0, at = 0; i < rows; at += num_samples(&c[i]), i++)
        compare(what, &c[i], logits + (size_t)i * vocab, vocab, got + at, want + at);
    printf("ok   vocab %-6d %4d rows, %4ld samples: %ld differ from the C sampler "
           "(%ld greedy/top-k 1)\n",
           vocab, rows, nres, st.samples - st.equal - before,
           st.strict - st.strict_equal - before_strict);

    /* The same launch again: bitwise the same. */
    sl_sample_result_t *again = run_gpu(&L, c, rows, NULL, 1, NULL);
    int same = memcmp(again, got, (size_t)nres * sizeof(*got)) == 0;
    snprintf(what, sizeof(what), "vocab %d: the same launch twice, bitwise", vocab);
    gc_report(what, same ? 0 : INFINITY, 0, 0);
    free(again);
    launch_free(&L);

    /* The TP 2 layout: two vocabulary segments. */
    launch_init(&L, logits, rows, vocab, 2);
    sl_sample_result_t *seg = run_gpu(&L, c, rows, NULL, 1, NULL);
    same = memcmp(seg, got, (size_t)nres * sizeof(*got)) == 0;
    snprintf(what, sizeof(what), "vocab %d: two vocabulary segments, bitwise", vocab);
    gc_report(what, same ? 0 : INFINITY, 0, 0);
    free(seg);
    launch_free(&L);

    /* Determinism: every row alone (a batch of one), in reverse order, gives
     * what it gave at its index of the whole batch. */
    int *row_of = gc_malloc((size_t)rows * sizeof(int));
    case_t *rev = gc_malloc((size_t)rows * sizeof(*rev));
    float *shuffled = gc_malloc((size_t)rows * vocab * sizeof(float));
    for (int i = 0; i < rows; i++) {
        rev[i] = c[rows - 1 - i];
        row_of[i] = i;
        memcpy(shuffled + (size_t)i * vocab, logits + (size_t)(rows - 1 - i) * vocab,
               (size_t)vocab * sizeof(float));
    }
    launch_init(&L, shuffled, rows, vocab, 1);
    sl_sample_result_t *alone = run_gpu(&L, rev, rows, row_of, 1, NULL);
    same = 1;
    for (int i = 0, at = 0; i < rows; at += num_samples(&rev[i]), i++) {
        int orig = rows - 1 - i, at_orig = 0;
        for (int k = 0; k < orig; k++)
            at_orig += num_samples(&c[k]);
        same &= memcmp(alone + at, got + at_orig,
                       (size_t)num_samples(&rev[i]) * sizeof(*got)) == 0;
    }
    snprintf(what, sizeof(what), "vocab %d: rows alone, reordered, bitwise", vocab);
    gc_report(what, same ? 0 : INFINITY, 0, 0);
    launch_free(&L);
    free(alone), free(rev), free(shuffled), free(row_of);
    free(got), free(want);
    free_cases(c, rows);
    free(c), free(logits);
}

/* ---- --bench ------------------------------------------------------------------------- */

static void bench(uint64_t seed)
{
    const int rows = 256, vocab = 128256;
    uint64_t rng = seed;
    float *logits = gc_malloc((size_t)rows * vocab * sizeof(float));
    case_t *c = gc_malloc((size_t)rows * sizeof(*c));
    static const struct {
        const char *name;
        float t, p;
        int k, lp;
        float rep;
    } settings[] = {
        {"temperature 0.8, top-p 0.95", 0.8f, 0.95f, 0, -1, 1.0f},
        {"temperature 1.0", 1.0f, 1.0f, 0, -1, 1.0f},
        {"temperature 0.7, top-k 50", 0.7f, 1.0f, 50, -1, 1.0f},
        {"top-k 50, top-p 0.9, logprobs 20", 1.0f, 0.9f, 50, 20, 1.0f},
        {"greedy, repetition 1.1 (768 ids)", 0.0f, 1.0f, 0, -1, 1.1f},
    };

    for (size_t i = 0; i < (size_t)rows * vocab; i++)
        logits[i] = (float)(normal(&rng) * 2.5);
    for (size_t s = 0; s < sizeof(settings) / sizeof(settings[0]); s++) {
        for (int i = 0; i < rows; i++) {
            memset(&c[i], 0, sizeof(c[i]));
            c[i].row = (sl_sample_row_t){
                .temperature = settings[s].t, .top_p = settings[s].p, .top_k = settings[s].k,
                .repetition_penalty = settings[s].rep, .logprobs = settings[s].lp,
                .num_samples = 1, .seed = 1, .stream = (uint64_t)i, .counter = 600};
            if (settings[s].rep != 1.0f) {
                c[i].np = 512, c[i].no = 256;
                c[i].prompt = gen_ids(&rng, vocab, c[i].np, 0);
                c[i].output = gen_ids(&rng, vocab, c[i].no, 0);
            }
        }
        launch_t L;
        launch_init(&L, logits, rows, vocab, 1);
        double ms;
        free(run_gpu(&L, c, rows, NULL, 1, NULL)); /* warm-up */
        free(run_gpu(&L, c, rows, NULL, 5, &ms));
        launch_free(&L);
        /* The host sampler on a few rows, for scale. */
        sl_sampler_t *sampler;
        sl_sample_result_t res;
        if (sl_sampler_create(vocab, &sampler) != SL_OK)
            exit(EXIT_FAILURE);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 8; i++) {
            sl_sample_history_t h = hist_of(&c[i]);
            sl_sampler_sample(sampler, logits + (size_t)i * vocab, &c[i].row, &h, &res);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        sl_sampler_free(sampler);
        double host_ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 +
                          (double)(b.tv_nsec - a.tv_nsec) / 1e6) / 8;
        printf("bench sampler %d x %d, %-34s %8.3f ms, %9.0f rows/s (host: %.2f ms a row)\n",
               rows, vocab, settings[s].name, ms, rows / (ms / 1e3), host_ms);
        free_cases(c, rows);
    }
    free(c), free(logits);
}

/* ---- part 4: the backend ------------------------------------------------------------ */

static int fwd_sample_calls;

static sl_status_t counting_forward_sample(sl_backend_t *b, const sl_batch_t *batch,
                                           const sl_sample_row_t *rows,
                                           const sl_sample_history_t *hist,
                                           sl_sample_result_t *results)
{
    fwd_sample_calls++;
    return sl_cuda_backend_forward_sample(b, batch, rows, hist, results);
}

/* forward_sample on BATCH vs the host sampler on forward's logits. */
static void backend_batch(sl_backend_t *gpu, const sl_batch_t *b, int vocab, uint64_t *rng,
                          const char *label)
{
    int n = b->num_logits;
    case_t *c = gc_malloc((size_t)n * sizeof(*c));
    sl_sample_row_t *rows = gc_malloc((size_t)n * sizeof(*rows));
    sl_sample_history_t *hist = gc_malloc((size_t)n * sizeof(*hist));
    float *logits = gc_malloc((size_t)n * vocab * sizeof(float));
    sl_sampler_t *sampler;

    for (int i = 0; i < n; i++) {
        gen_case(rng, vocab, i, &c[i]);
        c[i].kind = NUM_KINDS;
        rows[i] = c[i].row;
        hist[i] = hist_of(&c[i]);
    }
    long nres = total_samples(c, n);
    sl_sample_result_t *got = gc_malloc((size_t)nres * sizeof(*got));
    sl_sample_result_t *want = gc_malloc((size_t)nres * sizeof(*want));
    if (sl_backend_forward(gpu, b, logits) != SL_OK ||
        sl_cuda_backend_forward_sample(gpu, b, rows, hist, got) != SL_OK ||
        sl_sampler_create(vocab, &sampler) != SL_OK) {
        printf("FAIL %s: forward failed\n", label);
        gc_failures++;
        goto out;
    }
    long before = st.samples - st.equal;
    for (int i = 0, at = 0; i < n; at += num_samples(&c[i]), i++) {
        sl_sampler_sample(sampler, logits + (size_t)i * vocab, &rows[i], &hist[i], want + at);
        compare(label, &c[i], logits + (size_t)i * vocab, vocab, got + at, want + at);
    }
    sl_sampler_free(sampler);
    printf("ok   %s: %d rows, %ld samples, %ld differ from the host sampler\n", label, n, nres,
           st.samples - st.equal - before);
out:
    free(got), free(want), free(logits), free(rows), free(hist);
    free_cases(c, n);
    free(c);
}

/* forward_sample vs the host sampler on: 300 single-token rows (eager, more
 * than a logits chunk), 8 (a CUDA graph: captured, then replayed) and three
 * 150-token prompts with every row's logits. Block ids as the backend's
 * cache of 1024 blocks of 16 allows. */
static void backend_steps(sl_backend_t *gpu, int vocab, uint64_t seed, const char *name)
{
    uint64_t rng = seed;
    char label[160];
    static int32_t tables[300][1], tokens[600], idx[600];
    sl_batch_seq_t seqs[300];

    /* 300 decode rows: more than a logits chunk of 256, eager */
    for (int i = 0; i < 300; i++) {
        tables[i][0] = i;
        tokens[i] = (int32_t)(gpu_test_uniform(&rng) * vocab);
        idx[i] = i;
        seqs[i] = (sl_batch_seq_t){.num_tokens = 1, .start_pos = 0, .num_blocks = 1,
                                   .block_table = tables[i]};
    }
    sl_batch_t b = {.num_seqs = 300, .seqs = seqs, .num_tokens = 300, .tokens = tokens,
                    .num_logits = 300, .logit_indices = idx};
    snprintf(label, sizeof(label), "%s: 300 rows in two chunks", name);
    backend_batch(gpu, &b, vocab, &rng, label);
    /* 8 decode rows: a CUDA graph (captured by the first call, replayed) */
    b.num_seqs = b.num_tokens = b.num_logits = 8;
    for (int k = 0; k < 3; k++) {
        snprintf(label, sizeof(label), "%s: 8 rows, graph %s", name, k ? "replay" : "capture");
        backend_batch(gpu, &b, vocab, &rng, label);
    }
    /* 3 prompts of 150 tokens, logits for every token: prefill, 450 rows
     * in two chunks (blocks 300.. of their own) */
    static int32_t ptables[3][10];
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 10; k++)
            ptables[i][k] = 300 + i * 10 + k;
        seqs[i] = (sl_batch_seq_t){.num_tokens = 150, .start_pos = 0, .num_blocks = 10,
                                   .block_table = ptables[i]};
    }
    for (int t = 0; t < 450; t++) {
        tokens[t] = (int32_t)(gpu_test_uniform(&rng) * vocab);
        idx[t] = t;
    }
    b = (sl_batch_t){.num_seqs = 3, .seqs = seqs, .num_tokens = 450, .tokens = tokens,
                     .num_logits = 450, .logit_indices = idx};
    snprintf(label, sizeof(label), "%s: prefill 3 x 150, every row", name);
    backend_batch(gpu, &b, vocab, &rng, label);
}

typedef struct {
    sl_request_t *by_id[256];
} engine_run_t;

/* N sampled requests through an engine on GPU; HOST: --gpu-sampling off. */
static void engine_run(sl_backend_t *gpu, const sl_model_t *m, int n, int host, uint64_t seed,
                       engine_run_t *out)
{
    const int vocab = (int)m->config->vocab_size;
    const int32_t eos[2] = {vocab - 1, 3};
    sl_engine_options_t eo;
    sl_engine_t *e;
    uint64_t rng = seed;
    int32_t prompt[64];

    sl_engine_options_init(&eo);
    eo.host_sampling = host;
    eo.seed = seed;
    eo.eos = eos;
    eo.num_eos = 2;
    eo.max_running = 64;
    eo.max_prefill_tokens = 256;
    if (sl_engine_create(gpu, NULL, m->config, &eo, &e) != SL_OK)
        exit(EXIT_FAILURE);
    for (int i = 0; i < n; i++) {
        sl_sampling_params_t p;
        sl_sampling_params_init(&p);
        int len = 1 + (int)(gpu_test_uniform(&rng) * 48);
        for (int k = 0; k < len; k++)
            prompt[k] = (int32_t)(gpu_test_uniform(&rng) * vocab);
        p.max_tokens = 8 + (int)(gpu_test_uniform(&rng) * 10);
        p.ignore_eos = gpu_test_uniform(&rng) < 0.7;
        p.min_tokens = gpu_test_uniform(&rng) < 0.3 ? 4 : 0;
        p.temperature = (float[]){0.0f, 0.6f, 1.0f, 1.3f}[(int)(gpu_test_uniform(&rng) * 4)];
        p.top_p = (float[]){1.0f, 0.9f, 0.5f}[(int)(gpu_test_uniform(&rng) * 3)];
        p.top_k = (int32_t[]){0, 1, 20}[(int)(gpu_test_uniform(&rng) * 3)];
        p.min_p = gpu_test_uniform(&rng) < 0.2 ? 0.05f : 0.0f;
        p.repetition_penalty = gpu_test_uniform(&rng) < 0.3 ? 1.2f : 1.0f;
        p.frequency_penalty = gpu_test_uniform(&rng) < 0.2 ? 0.4f : 0.0f;
        p.presence_penalty = gpu_test_uniform(&rng) < 0.2 ? -0.3f : 0.0f;
        p.logprobs = (int32_t[]){-1, -1, 0, 5}[(int)(gpu_test_uniform(&rng) * 4)];
        p.n = (int32_t[]){1, 1, 2, 3}[(int)(gpu_test_uniform(&rng) * 4)];
        if (gpu_test_uniform(&rng) < 0.5) {
            p.has_seed = true;
            p.seed = (uint64_t)(gpu_test_uniform(&rng) * 1e9);
        }
        if (gpu_test_uniform(&rng) < 0.2 &&
            sl_sampling_params_add_stop_id(&p, (int32_t)(gpu_test_uniform(&rng) * vocab)) != SL_OK)
            exit(EXIT_FAILURE);
        if (sl_engine_submit(e, (uint64_t)i, prompt, len, &p) != SL_OK)
            exit(EXIT_FAILURE);
        sl_sampling_params_release(&p);
    }
    if (sl_engine_run(e) != SL_OK) {
        printf("FAIL engine run (%s sampling)\n", host ? "host" : "GPU");
        gc_failures++;
    }
    for (sl_request_t *r; (r = sl_engine_poll(e)) != NULL;)
        if (r->id < 256)
            out->by_id[r->id] = r;
    sl_engine_free(e);
}

static void engine_compare(sl_backend_t *gpu, const sl_model_t *m, const char *name,
                           uint64_t seed)
{
    enum { N = 160 };
    engine_run_t a = {0}, b = {0};
    int equal = 0, lp_bad = 0, calls;
    char what[160];

    fwd_sample_calls = 0;
    engine_run(gpu, m, N, 0, seed, &a);
    calls = fwd_sample_calls;
    engine_run(gpu, m, N, 1, seed, &b);
    for (int i = 0; i < N; i++) {
        const sl_request_t *x = a.by_id[i], *y = b.by_id[i];
        int same = x != NULL && y != NULL;
        for (int j = 0; same && j < x->params.n; j++) {
            const sl_sequence_t *p = &x->seqs[j], *q = &y->seqs[j];
            same = p->num_out == q->num_out &&
                   memcmp(p->out, q->out, (size_t)p->num_out * sizeof(int32_t)) == 0;
            for (int k = 0; same && x->params.logprobs >= 0 && k < p->num_out; k++)
                lp_bad += !same_float(p->logprobs[k], q->logprobs[k], LP_TOL);
        }
        equal += same;
    }
    printf("%s: %d of %d sampled requests equal through forward_sample (%d calls) and the "
           "host sampler\n",
           name, equal, N, calls);
    snprintf(what, sizeof(what), "%s: engine, GPU vs host sampling (>= 99%% equal)", name);
    gc_report(what, equal * 100 >= 99 * N && calls > 0 && lp_bad == 0 ? 0 : INFINITY, 0, 0);
    for (int i = 0; i < N; i++) {
        sl_request_free(a.by_id[i]);
        sl_request_free(b.by_id[i]);
    }
}

static void backend_tests(const char *label, const char *dir, int tp, uint64_t seed)
{
    sl_model_options_t mo;
    sl_model_t *m = NULL;
    sl_backend_t *gpu = NULL;
    char name[160];

    sl_model_options_init(&mo);
    mo.tp = tp;
    sl_cuda_options_t go;
    sl_cuda_options_init(&go);
    go.block_size = 16;
    go.num_blocks = 1024;
    go.max_tokens = 512;
    go.cuda_graph_max_bs = 16;
    if (sl_model_load(dir, &mo, &m) != SL_OK || sl_cuda_backend_create(m, &go, &gpu) != SL_OK) {
        printf("FAIL %s TP%d: could not load or create the backend\n", label, tp);
        gc_failures++;
        goto out;
    }
    snprintf(name, sizeof(name), "%s TP%d", label, tp);
    backend_steps(gpu, (int)m->config->vocab_size, seed, name);
    /* The engine through a counting forward_sample. */
    static sl_backend_ops_t ops;
    ops = *gpu->ops;
    ops.forward_sample = counting_forward_sample;
    gpu->ops = &ops;
    engine_compare(gpu, m, name, seed);
out:
    sl_backend_destroy(gpu);
    sl_model_free(m);
}

static const struct {
    const char *name, *json;
} configs[] = {
    {"llama-v32000",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":256,\"intermediate_size\":512,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
     "\"vocab_size\":32000,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,"
     "\"dtype\":\"bfloat16\",\"rope_theta\":10000.0}"},
    {"qwen2-v1203-tied",
     "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":128,\"intermediate_size\":256,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
     "\"vocab_size\":1203,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-6,"
     "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"rope_theta\":1000000.0}"},
};

int main(int argc, char **argv)
{
    int quick = 0, do_bench = 0, only_tp = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--bench") == 0)
            do_bench = 1;
        else if (strcmp(argv[i], "--tp") == 0 && i + 1 < argc)
            only_tp = atoi(argv[++i]);
    }
    gpu_test_require_device();
    uint64_t seed = gc_seed();

    if (only_tp == 0 || only_tp == 1) {
        static const int vocabs[] = {7, 1505, 32000, 128256, 151936}, small[] = {7, 1505, 4099};
        for (size_t i = 0; i < (quick ? 3 : sizeof(vocabs) / sizeof(vocabs[0])); i++)
            kernel_tests(quick ? small[i] : vocabs[i],
                         quick ? 24 : (vocabs[i] > 50000 ? 120 : 240), seed + i);
        report_totals("kernel");
    }
    if (do_bench)
        bench(seed);
    if (quick)
        return gc_finish();

    int gpus = sl_cuda_device_count();
    char tmpl[] = "/tmp/slinfer-cuda-sampling-XXXXXX";
    char *root = mkdtemp(tmpl);
    if (root == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    if (gpus < 2)
        printf("SKIP TP 2 parts: %d GPU here\n", gpus);
    memset(&st, 0, sizeof(st));
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/%s", root, configs[i].name);
        if (sl_model_write_random(dir, configs[i].json, seed + i, SL_DTYPE_BF16, 1) != SL_OK) {
            printf("FAIL %s: could not write the model\n", configs[i].name);
            gc_failures++;
            continue;
        }
        for (int tp = 1; tp <= 2; tp++)
            if ((!only_tp || tp == only_tp) && tp <= gpus)
                backend_tests(configs[i].name, dir, tp, seed + 10 * i + (uint64_t)tp);
    }
    const char *fx = getenv("SLINFER_FIXTURES");
    char dir[700];
    struct stat sb;
    snprintf(dir, sizeof(dir), "%s/models/tiny-llama3", fx != NULL ? fx : "../shared/fixtures");
    if (stat(dir, &sb) != 0) {
        printf("SKIP fixtures: %s not found (set SLINFER_FIXTURES)\n", dir);
    } else {
        for (int tp = 1; tp <= 2; tp++)
            if ((!only_tp || tp == only_tp) && tp <= gpus)
                backend_tests("tiny-llama3", dir, tp, seed + 77 + (uint64_t)tp);
    }
    report_totals("backend");
    return gc_finish();
}
