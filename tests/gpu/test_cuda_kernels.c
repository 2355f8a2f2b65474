/*
 * test_cuda_kernels.c - each small CUDA kernel of gpu/ against its C twin
 * on fresh random inputs: embedding gather, row gather, SiLU*mul, bias add,
 * the fused QKV bias / q-k norm / RoPE / KV store, the GEMV (bf16 and
 * float32 outputs, 1..8 rows, one warp per row or on the tensor cores; with
 * SiLU, with the RoPE/KV store fused: bitwise against the separate kernels
 * where the GEMV also runs one warp per row; at batch 1 with the RMSNorm
 * inside, and adding into the residual stream: bitwise against
 * sl_cuda_rmsnorm_bf16 and the plain kernels), argmax, and the dummy weight
 * generator (bit for bit). Outputs are NaN-poisoned before each launch. Exit 77 without a
 * GPU.
 *
 *   test_cuda_kernels           the test
 *   test_cuda_kernels --bench   also time the GEMV on Llama-3.1-8B shapes
 *
 * Limits: a bf16 output carries one rounding (relative 2^-9 = 2e-3 per
 * element; 4e-3 allows a rounding of an input-derived intermediate too);
 * float32 outputs of dot products differ from the twin only by summation
 * order (1e-5).
 */
#include "config.h"

#include "backend/cpu/activation.h"
#include "backend/cpu/argmax.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/rope_kv.h"
#include "gpu_compare.h"
#include "model/model.h"
#include "sl_kernels.h"

/* A fused GEMV kernel (one warp per output row) against sl_cuda_gemv_bf16
 * and the kernel it absorbs, on GOT [0..n) and WANT: bitwise where
 * sl_cuda_gemv_bf16 also runs one warp per whole row (ROWS of x below
 * sl_cuda_gemv_mma_min_rows(), and at one row fewer than
 * SL_CUDA_GEMV_SPLIT_MIN_COLS columns IN_DIM); else the tensor-core product
 * or the row cut into parts sums in another order, and the two may differ by
 * a bf16 rounding (relative L2 4e-3). */
static void report_fused(const char *what, int rows, int in_dim, const sl_bf16_t *got,
                         const sl_bf16_t *want, size_t n)
{
    if (rows < sl_cuda_gemv_mma_min_rows() &&
        (rows > 1 || in_dim < SL_CUDA_GEMV_SPLIT_MIN_COLS)) {
        size_t differ = 0;
        for (size_t i = 0; i < n; i++)
            differ += got[i] != want[i];
        gc_report(what, differ == 0 ? 0 : INFINITY, 0, 0);
        return;
    }
    float *g = gc_malloc(n * 4), *w = gc_malloc(n * 4);
    gc_bf16_to_float(g, got, n);
    gc_bf16_to_float(w, want, n);
    double mx, rel = gc_rel_l2(g, w, n, &mx);
    gc_report(what, rel, mx, 4e-3);
    free(g), free(w);
}

static void check_embedding(uint64_t *rng, int n, int rows, int dim, int64_t vocab_begin)
{
    size_t tn = (size_t)rows * dim;
    sl_bf16_t *table = gc_malloc(tn * 2), *got = gc_malloc((size_t)n * dim * 2);
    float *gotf = gc_malloc((size_t)n * dim * 4), *want = gc_malloc((size_t)n * dim * 4);
    int32_t *tokens = gc_malloc((size_t)n * 4);
    char what[96];

    gc_random_bf16(rng, table, NULL, tn, -2, 2);
    for (int i = 0; i < n; i++) /* some outside this rank's range */
        tokens[i] = (int32_t)(gpu_test_uniform(rng) * (double)(rows + vocab_begin + 7));
    sl_weight_t w = {.dtype = SL_DTYPE_BF16, .rows = rows, .cols = dim, .ld = dim, .data = table};
    sl_cpu_embedding(want, tokens, (size_t)n, &w, vocab_begin);

    void *d_table = gc_upload(table, tn * 2), *d_tok = gc_upload(tokens, (size_t)n * 4);
    void *d_out = gc_device((size_t)n * dim * 2);
    if (sl_cuda_embedding_bf16(d_out, d_tok, n, d_table, rows, dim, vocab_begin, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d_out, (size_t)n * dim * 2);
    gc_bf16_to_float(gotf, got, (size_t)n * dim);
    double mx, rel = gc_rel_l2(gotf, want, (size_t)n * dim, &mx);
    snprintf(what, sizeof(what), "embedding n=%d rows=%d dim=%d begin=%lld", n, rows, dim,
             (long long)vocab_begin);
    gc_report(what, rel, mx, 0); /* a copy: exact */

    /* gather rows back out of the output */
    int32_t idx[3] = {n - 1, 0, n / 2};
    void *d_idx = gc_upload(idx, sizeof(idx)), *d_g = gc_device((size_t)3 * dim * 2);
    if (sl_cuda_gather_rows_bf16(d_g, d_out, d_idx, 3, dim, 0) != SL_OK)
        exit(EXIT_FAILURE);
    sl_bf16_t *g = gc_malloc((size_t)3 * dim * 2);
    gc_download(g, d_g, (size_t)3 * dim * 2);
    int same = 1;
    for (int k = 0; k < 3; k++)
        same &= memcmp(g + (size_t)k * dim, got + (size_t)idx[k] * dim, (size_t)dim * 2) == 0;
    snprintf(what, sizeof(what), "gather_rows dim=%d", dim);
    gc_report(what, same ? 0 : INFINITY, 0, 0);

    cudaFree(d_table), cudaFree(d_tok), cudaFree(d_out), cudaFree(d_idx), cudaFree(d_g);
    free(table), free(got), free(gotf), free(want), free(tokens), free(g);
}

static void check_silu_bias(uint64_t *rng, int n, int inter)
{
    size_t gn = (size_t)n * 2 * inter, on = (size_t)n * inter;
    sl_bf16_t *gu = gc_malloc(gn * 2), *got = gc_malloc(gn * 2);
    float *guf = gc_malloc(gn * 4), *gate = gc_malloc(on * 4), *up = gc_malloc(on * 4);
    float *want = gc_malloc(gn * 4), *gotf = gc_malloc(gn * 4), *bias = gc_malloc(gn * 4);
    char what[96];

    gc_random_bf16(rng, gu, guf, gn, -6, 6);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < inter; i++) {
            gate[(size_t)t * inter + i] = guf[(size_t)t * 2 * inter + i];
            up[(size_t)t * inter + i] = guf[(size_t)t * 2 * inter + inter + i];
        }
    sl_cpu_silu_mul(want, gate, up, on);
    void *d_gu = gc_upload(gu, gn * 2), *d_out = gc_device(on * 2);
    if (sl_cuda_silu_mul_bf16(d_out, d_gu, n, inter, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d_out, on * 2);
    gc_bf16_to_float(gotf, got, on);
    double mx, rel = gc_rel_l2(gotf, want, on, &mx);
    snprintf(what, sizeof(what), "silu_mul n=%d inter=%d", n, inter);
    gc_report(what, rel, mx, 4e-3);

    /* bias over the [n, 2 * inter] buffer */
    for (int i = 0; i < 2 * inter; i++)
        bias[i] = (float)(gpu_test_uniform(rng) - 0.5);
    memcpy(want, guf, gn * 4);
    sl_cpu_add_bias(want, bias, (size_t)n, (size_t)(2 * inter));
    void *d_b = gc_upload(bias, (size_t)2 * inter * 4);
    if (sl_cuda_add_bias_bf16(d_gu, d_b, n, 2 * inter, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d_gu, gn * 2);
    gc_bf16_to_float(gotf, got, gn);
    rel = gc_rel_l2(gotf, want, gn, &mx);
    snprintf(what, sizeof(what), "add_bias rows=%d dim=%d", n, 2 * inter);
    gc_report(what, rel, mx, 4e-3);

    cudaFree(d_gu), cudaFree(d_out), cudaFree(d_b);
    free(gu), free(got), free(guf), free(gate), free(up), free(want), free(gotf), free(bias);
}

static void check_rope_kv(uint64_t *rng, int n, int heads, int kv_heads, int hd, int bias,
                          int qk_norm, sl_rope_type_t type)
{
    const int blocks = 64, bs = 16, slots_n = blocks * bs;
    size_t ld = (size_t)(heads + 2 * kv_heads) * hd, qn = (size_t)n * ld;
    size_t cache = (size_t)slots_n * kv_heads * hd;
    sl_rope_config_t rc = {.type = type, .rotary_dim = hd, .theta = 10000.0, .factor = 4.0,
                           .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                           .original_max_position = 64, .beta_fast = 32, .beta_slow = 1,
                           .truncate = 1, .attention_factor = 1.0,
                           .inv_freq_dtype = SL_DTYPE_BF16};
    sl_rope_table_t *rope;
    if (sl_rope_table_create(&rc, 4096, &rope) != SL_OK)
        exit(EXIT_FAILURE);
    sl_bf16_t *qkv = gc_malloc(qn * 2), *got = gc_malloc(qn * 2), *nq = gc_malloc((size_t)hd * 2);
    sl_bf16_t *nk = gc_malloc((size_t)hd * 2), *kc = gc_malloc(cache * 2), *vc = gc_malloc(cache * 2);
    float *qkvf = gc_malloc(qn * 4), *b = gc_malloc(ld * 4), *nqf = gc_malloc((size_t)hd * 4);
    float *nkf = gc_malloc((size_t)hd * 4), *kcf = gc_malloc(cache * 4), *vcf = gc_malloc(cache * 4);
    float *gq = gc_malloc(qn * 4), *wq = gc_malloc(qn * 4);
    float *gk = gc_malloc(cache * 4), *gv = gc_malloc(cache * 4);
    int32_t *pos = gc_malloc((size_t)n * 4);
    int64_t *slots = gc_malloc((size_t)n * 8);
    char what[128];

    gc_random_bf16(rng, qkv, qkvf, qn, -3, 3);
    gc_random_bf16(rng, nq, nqf, (size_t)hd, 0.5, 1.5);
    gc_random_bf16(rng, nk, nkf, (size_t)hd, 0.5, 1.5);
    for (size_t i = 0; i < ld; i++)
        b[i] = (float)(gpu_test_uniform(rng) - 0.5);
    for (int t = 0; t < n; t++) {
        pos[t] = (int32_t)(gpu_test_uniform(rng) * 4000);
        slots[t] = (int64_t)(t * 7 + 3) % slots_n; /* distinct while n < slots_n / 7 */
    }
    memset(kcf, 0, cache * 4);
    memset(vcf, 0, cache * 4);
    memcpy(wq, qkvf, qn * 4);
    sl_cpu_qkv_rope_store(wq, bias ? b : NULL, qk_norm ? nqf : NULL, qk_norm ? nkf : NULL, 1e-6f,
                          rope, pos, slots, (size_t)n, (size_t)heads, (size_t)kv_heads,
                          (size_t)hd, kcf, vcf);

    void *d_qkv = gc_upload(qkv, qn * 2), *d_b = gc_upload(b, ld * 4);
    void *d_nq = gc_upload(nq, (size_t)hd * 2), *d_nk = gc_upload(nk, (size_t)hd * 2);
    size_t tab = (size_t)4096 * (hd / 2) * 4;
    void *d_cos = gc_upload(rope->cos, tab), *d_sin = gc_upload(rope->sin, tab);
    void *d_pos = gc_upload(pos, (size_t)n * 4), *d_slots = gc_upload(slots, (size_t)n * 8);
    void *d_kc = gc_device(cache * 2), *d_vc = gc_device(cache * 2);
    GPU_CHECK(cudaMemset(d_kc, 0, cache * 2));
    GPU_CHECK(cudaMemset(d_vc, 0, cache * 2));
    if (sl_cuda_qkv_rope_store_bf16(d_qkv, bias ? d_b : NULL, qk_norm ? d_nq : NULL,
                                    qk_norm ? d_nk : NULL, 1e-6f, d_cos, d_sin, d_pos, d_slots,
                                    n, heads, kv_heads, hd, d_kc, d_vc, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d_qkv, qn * 2);
    gc_download(kc, d_kc, cache * 2);
    gc_download(vc, d_vc, cache * 2);
    /* q part compared; k and v parts must be untouched */
    size_t qcount = 0, kv_changed = 0;
    for (int t = 0; t < n; t++)
        for (size_t i = 0; i < ld; i++) {
            size_t at = (size_t)t * ld + i;
            if (i < (size_t)heads * hd) {
                gq[qcount] = sl_bf16_to_float(got[at]);
                wq[qcount++] = wq[at];
            } else {
                kv_changed += got[at] != qkv[at];
            }
        }
    gc_bf16_to_float(gk, kc, cache);
    gc_bf16_to_float(gv, vc, cache);
    double mx, rel = gc_rel_l2(gq, wq, qcount, &mx);
    snprintf(what, sizeof(what), "qkv_rope q n=%d h=%d kv=%d hd=%d bias=%d norm=%d rope=%s", n,
             heads, kv_heads, hd, bias, qk_norm, sl_rope_type_name(type));
    gc_report(what, rel, mx, 4e-3);
    rel = gc_rel_l2(gk, kcf, cache, &mx);
    snprintf(what, sizeof(what), "qkv_rope k cache hd=%d", hd);
    gc_report(what, rel, mx, 4e-3);
    rel = gc_rel_l2(gv, vcf, cache, &mx);
    snprintf(what, sizeof(what), "qkv_rope v cache hd=%d", hd);
    gc_report(what, rel, mx, 4e-3);
    snprintf(what, sizeof(what), "qkv_rope leaves k/v input rows alone");
    gc_report(what, kv_changed == 0 ? 0 : INFINITY, 0, 0);

    void *dev[] = {d_qkv, d_b, d_nq, d_nk, d_cos, d_sin, d_pos, d_slots, d_kc, d_vc};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        cudaFree(dev[i]);
    free(qkv), free(got), free(nq), free(nk), free(kc), free(vc), free(qkvf), free(b);
    free(nqf), free(nkf), free(kcf), free(vcf), free(gq), free(wq), free(gk), free(gv);
    free(pos), free(slots);
    sl_rope_table_free(rope);
}

static void check_gemv(uint64_t *rng, int n, int out_dim, int in_dim, int f32)
{
    size_t wn = (size_t)out_dim * in_dim, xn = (size_t)n * in_dim, on = (size_t)n * out_dim;
    sl_bf16_t *w = gc_malloc(wn * 2), *x = gc_malloc(xn * 2), *gb = gc_malloc(on * 2);
    float *xf = gc_malloc(xn * 4), *want = gc_malloc(on * 4), *got = gc_malloc(on * 4);
    char what[96];

    gc_random_bf16(rng, w, NULL, wn, -1, 1);
    gc_random_bf16(rng, x, xf, xn, -1, 1);
    sl_weight_t sw = {.dtype = SL_DTYPE_BF16, .rows = out_dim, .cols = in_dim, .ld = in_dim,
                      .data = w};
    sl_cpu_matmul(NULL, want, xf, &sw, NULL, (size_t)n);
    void *d_w = gc_upload(w, wn * 2), *d_x = gc_upload(x, xn * 2);
    void *d_o = gc_device(on * (f32 ? 4 : 2));
    if (!sl_cuda_gemv_supported(n, in_dim, d_x, in_dim, d_w) ||
        sl_cuda_gemv_bf16(d_o, f32, out_dim, d_x, in_dim, d_w, n, out_dim, in_dim, 0) != SL_OK)
        exit(EXIT_FAILURE);
    if (f32) {
        gc_download(got, d_o, on * 4);
    } else {
        gc_download(gb, d_o, on * 2);
        gc_bf16_to_float(got, gb, on);
    }
    double mx, rel = gc_rel_l2(got, want, on, &mx);
    snprintf(what, sizeof(what), "gemv %s n=%d out=%d in=%d", f32 ? "f32" : "bf16", n, out_dim,
             in_dim);
    gc_report(what, rel, mx, f32 ? 1e-5 : 4e-3);
    cudaFree(d_w), cudaFree(d_x), cudaFree(d_o);
    free(w), free(x), free(gb), free(xf), free(want), free(got);
}

/* The batch-1 GEMV adding its product into the residual stream
 * (sl_cuda_gemv_residual_bf16) against the GEMV into x then the residual add
 * of sl_cuda_rmsnorm_bf16: the residual bitwise the same. */
static void check_gemv_residual(uint64_t *rng, int out_dim, int in_dim)
{
    size_t wn = (size_t)out_dim * in_dim;
    sl_bf16_t *w = gc_malloc(wn * 2), *x = gc_malloc((size_t)in_dim * 2);
    sl_bf16_t *res = gc_malloc((size_t)out_dim * 2), *norm_w = gc_malloc((size_t)out_dim * 2);
    sl_bf16_t *got[2] = {gc_malloc((size_t)out_dim * 2), gc_malloc((size_t)out_dim * 2)};
    char what[96];

    gc_random_bf16(rng, w, NULL, wn, -1, 1);
    gc_random_bf16(rng, x, NULL, (size_t)in_dim, -1, 1);
    gc_random_bf16(rng, res, NULL, (size_t)out_dim, -8, 8);
    gc_random_bf16(rng, norm_w, NULL, (size_t)out_dim, 0.5, 1.5);
    void *d_w = gc_upload(w, wn * 2), *d_x = gc_upload(x, (size_t)in_dim * 2);
    void *d_nw = gc_upload(norm_w, (size_t)out_dim * 2), *d_o = gc_device((size_t)out_dim * 2);
    void *d_xn = gc_device((size_t)out_dim * 2);
    void *d_res[2] = {gc_upload(res, (size_t)out_dim * 2), gc_upload(res, (size_t)out_dim * 2)};
    if (sl_cuda_gemv_bf16(d_o, 0, out_dim, d_x, in_dim, d_w, 1, out_dim, in_dim, 0) != SL_OK ||
        sl_cuda_rmsnorm_bf16(d_xn, d_o, d_res[0], d_nw, 1, out_dim, 1e-5f, 0) != SL_OK ||
        sl_cuda_gemv_residual_bf16(d_res[1], d_x, d_w, out_dim, in_dim, 0) != SL_OK)
        exit(EXIT_FAILURE);
    for (int f = 0; f < 2; f++)
        gc_download(got[f], d_res[f], (size_t)out_dim * 2);
    snprintf(what, sizeof(what), "gemv into the residual %dx%d vs gemv + rmsnorm's add",
             out_dim, in_dim);
    report_fused(what, 1, 0, got[1], got[0], (size_t)out_dim); /* both cut rows alike */
    cudaFree(d_w), cudaFree(d_x), cudaFree(d_nw), cudaFree(d_o), cudaFree(d_xn);
    cudaFree(d_res[0]), cudaFree(d_res[1]);
    free(w), free(x), free(res), free(norm_w), free(got[0]), free(got[1]);
}

/* NORM: x is a residual row that a fused GEMV normalises itself
 * (sl_cuda_gemv_norm_t, random weights around 1); the unfused kernels it is
 * compared with take sl_cuda_rmsnorm_bf16's output of it instead. */
typedef struct {
    const void *x;                    /* what the unfused kernels take */
    const sl_cuda_gemv_norm_t *norm;  /* what the fused one takes, or NULL */
    sl_cuda_gemv_norm_t spec;
    void *d_weight, *d_xn;
} norm_input_t;

static void norm_input(norm_input_t *in, uint64_t *rng, const void *d_x, int n, int dim,
                       int norm)
{
    *in = (norm_input_t){.x = d_x};
    if (!norm)
        return;
    sl_bf16_t *w = gc_malloc((size_t)dim * 2);
    gc_random_bf16(rng, w, NULL, (size_t)dim, 0.5, 1.5);
    in->d_weight = gc_upload(w, (size_t)dim * 2);
    in->d_xn = gc_device((size_t)n * dim * 2);
    in->spec = (sl_cuda_gemv_norm_t){.weight = in->d_weight, .eps = 1e-5f};
    in->norm = &in->spec;
    if (sl_cuda_rmsnorm_bf16(in->d_xn, d_x, NULL, in->d_weight, n, dim, in->spec.eps, 0) !=
        SL_OK)
        exit(EXIT_FAILURE);
    in->x = in->d_xn;
    free(w);
}

static void norm_input_free(norm_input_t *in)
{
    cudaFree(in->d_weight), cudaFree(in->d_xn);
}

/* The fused gate/up GEMV + SiLU against the two kernels it replaces (bit
 * for bit; NORM: against RMSNorm and the two) and against the C twins
 * (sl_cpu_matmul, then sl_cpu_silu_mul on the bf16-rounded products, as the
 * GPU rounds them). */
static void check_gemv_silu(uint64_t *rng, int n, int inter, int in_dim, int norm)
{
    size_t wn = (size_t)2 * inter * in_dim, xn = (size_t)n * in_dim, on = (size_t)n * inter;
    size_t gn = (size_t)n * 2 * inter;
    sl_bf16_t *w = gc_malloc(wn * 2), *x = gc_malloc(xn * 2), *fused = gc_malloc(on * 2);
    sl_bf16_t *twok = gc_malloc(on * 2);
    float *xf = gc_malloc(xn * 4), *gu = gc_malloc(gn * 4), *gate = gc_malloc(on * 4);
    float *up = gc_malloc(on * 4), *want = gc_malloc(on * 4), *got = gc_malloc(on * 4);
    char what[96];

    gc_random_bf16(rng, w, NULL, wn, -1, 1);
    gc_random_bf16(rng, x, xf, xn, -1, 1);
    sl_weight_t sw = {.dtype = SL_DTYPE_BF16, .rows = 2 * inter, .cols = in_dim, .ld = in_dim,
                      .data = w};
    sl_cpu_matmul(NULL, gu, xf, &sw, NULL, (size_t)n);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < inter; i++) {
            gate[(size_t)t * inter + i] = sl_bf16_to_float(sl_float_to_bf16(gu[(size_t)t * 2 * inter + i]));
            up[(size_t)t * inter + i] =
                sl_bf16_to_float(sl_float_to_bf16(gu[(size_t)t * 2 * inter + inter + i]));
        }
    sl_cpu_silu_mul(want, gate, up, on);
    void *d_w = gc_upload(w, wn * 2), *d_x = gc_upload(x, xn * 2);
    void *d_gu = gc_device(gn * 2), *d_a1 = gc_device(on * 2), *d_a2 = gc_device(on * 2);
    norm_input_t in;
    norm_input(&in, rng, d_x, n, in_dim, norm);
    /* NORM: against sl_cuda_rmsnorm_bf16 + this kernel without the norm, the
     * same loop (bitwise at any in_dim); else against the two kernels */
    if (sl_cuda_gemv_silu_bf16(d_a1, inter, d_x, in_dim, d_w, n, inter, in_dim, in.norm, 0) !=
            SL_OK ||
        (norm ? sl_cuda_gemv_silu_bf16(d_a2, inter, in.x, in_dim, d_w, n, inter, in_dim, NULL,
                                       0)
              : sl_cuda_gemv_bf16(d_gu, 0, 2 * inter, in.x, in_dim, d_w, n, 2 * inter, in_dim,
                                  0)) != SL_OK ||
        (!norm && sl_cuda_silu_mul_bf16(d_a2, d_gu, n, inter, 0) != SL_OK))
        exit(EXIT_FAILURE);
    norm_input_free(&in);
    gc_download(fused, d_a1, on * 2);
    gc_download(twok, d_a2, on * 2);
    snprintf(what, sizeof(what), "gemv+silu n=%d inter=%d in=%d vs %s", n, inter, in_dim,
             norm ? "rmsnorm + gemv+silu" : "the two kernels");
    report_fused(what, n, norm ? 0 : in_dim, fused, twok, on);
    if (!norm) { /* the C twins take x, not its norm */
        gc_bf16_to_float(got, fused, on);
        double mx, rel = gc_rel_l2(got, want, on, &mx);
        snprintf(what, sizeof(what), "gemv+silu n=%d inter=%d in=%d vs C", n, inter, in_dim);
        gc_report(what, rel, mx, 1e-2);
    }
    cudaFree(d_w), cudaFree(d_x), cudaFree(d_gu), cudaFree(d_a1), cudaFree(d_a2);
    free(w), free(x), free(fused), free(twok), free(xf), free(gu), free(gate), free(up);
    free(want), free(got);
}

static void check_argmax(uint64_t *rng, int rows, int cols, int32_t base)
{
    size_t n = (size_t)rows * cols;
    float *lg = gc_malloc(n * 4), *val = gc_malloc((size_t)rows * 4);
    int32_t *idx = gc_malloc((size_t)rows * 4);
    sl_cuda_argmax_t *got = gc_malloc((size_t)rows * sizeof(*got));
    char what[96];

    for (size_t i = 0; i < n; i++) /* coarse values: many ties */
        lg[i] = (float)floor(gpu_test_uniform(rng) * 64) - 32;
    for (int c = 0; c < cols; c++) /* a row of -inf */
        lg[c] = -INFINITY;
    sl_cpu_argmax(lg, (size_t)rows, (size_t)cols, base, idx, val);
    void *d_lg = gc_upload(lg, n * 4), *d_o = gc_device((size_t)rows * sizeof(*got));
    void *d_part = gc_device((size_t)rows * sl_cuda_argmax_parts(cols) * sizeof(*got));
    if (sl_cuda_argmax_f32(d_o, d_lg, rows, cols, cols, base, d_part, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d_o, (size_t)rows * sizeof(*got));
    int wrong = 0;
    for (int r = 0; r < rows; r++)
        wrong += got[r].index != idx[r] || got[r].value != val[r];
    snprintf(what, sizeof(what), "argmax rows=%d cols=%d (ties: lowest id)", rows, cols);
    gc_report(what, wrong == 0 ? 0 : INFINITY, 0, 0);
    cudaFree(d_lg), cudaFree(d_o), cudaFree(d_part);
    free(lg), free(val), free(idx), free(got);
}

static void check_dummy(sl_tensor_role_t role, const char *name, int64_t rows, int64_t cols,
                        int64_t r0, int64_t nr, int64_t c0, int64_t nc)
{
    sl_tensor_spec_t spec = {.role = role, .layer = 0, .ndim = 2, .shape = {rows, cols}};
    snprintf(spec.name, sizeof(spec.name), "%s", name);
    sl_bf16_t *all = gc_malloc((size_t)(rows * cols) * 2), *got = gc_malloc((size_t)(nr * nc) * 2);
    uint64_t seed = 1234;
    char what[128];

    sl_model_random_fill(seed, &spec, SL_DTYPE_BF16, all);
    /* key = splitmix64(seed ^ fnv1a(name)), as the backend computes it */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    uint64_t x = (seed ^ h) + 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    uint64_t key = x ^ (x >> 31);
    void *d = gc_device((size_t)(nr * nc) * 2);
    if (sl_cuda_random_fill_bf16(d, nr, nc, nc, key, role == SL_T_EMBED, sqrtf((float)cols), r0,
                                 c0, cols, 0) != SL_OK)
        exit(EXIT_FAILURE);
    gc_download(got, d, (size_t)(nr * nc) * 2);
    int64_t diff = 0;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < nc; c++)
            diff += got[r * nc + c] != all[(r0 + r) * cols + c0 + c];
    snprintf(what, sizeof(what), "dummy weights %s shard [%lld+%lld, %lld+%lld] bit-exact", name,
             (long long)r0, (long long)nr, (long long)c0, (long long)nc);
    gc_report(what, diff == 0 ? 0 : INFINITY, 0, 0);
    cudaFree(d);
    free(all), free(got);
}

/* Bandwidth of the GEMV on the decode shapes of Llama-3.1-8B (information);
 * SILU: the fused gate/up + SiLU kernel (out_dim = 2 inter rows read). */
static void bench_gemv(int n, int out_dim, int in_dim, int silu)
{
    size_t wn = (size_t)out_dim * in_dim;
    const int reps = 20, sets = 4; /* rotate weight sets: 4 x 117 MB >> 60 MB L2 */
    void *w[4], *x = gc_device((size_t)n * in_dim * 2), *o = gc_device((size_t)n * out_dim * 2);
    cudaEvent_t a, b;
    float ms;

    GPU_CHECK(cudaMemset(x, 0x3c, (size_t)n * in_dim * 2));
    for (int i = 0; i < sets; i++) {
        w[i] = gc_device(wn * 2);
        GPU_CHECK(cudaMemset(w[i], 0x3c, wn * 2));
    }
    GPU_CHECK(cudaEventCreate(&a));
    GPU_CHECK(cudaEventCreate(&b));
    for (int i = 0; i < 3 + reps; i++) {
        if (i == 3)
            GPU_CHECK(cudaEventRecord(a, 0));
        if (silu)
            (void)sl_cuda_gemv_silu_bf16(o, out_dim / 2, x, in_dim, w[i % sets], n, out_dim / 2,
                                         in_dim, NULL, 0);
        else
            (void)sl_cuda_gemv_bf16(o, 0, out_dim, x, in_dim, w[i % sets], n, out_dim, in_dim,
                                    0);
    }
    GPU_CHECK(cudaEventRecord(b, 0));
    GPU_CHECK(cudaEventSynchronize(b));
    GPU_CHECK(cudaEventElapsedTime(&ms, a, b));
    double s = ms / 1e3 / reps;
    printf("bench gemv%s n=%d %dx%d: %.1f us, %.0f GB/s of weights\n", silu ? "+silu" : "", n,
           out_dim, in_dim, s * 1e6, (double)wn * 2 / s / 1e9);
    for (int i = 0; i < sets; i++)
        cudaFree(w[i]);
    cudaFree(x), cudaFree(o);
}

/* The QKV GEMV with the RoPE/KV store fused (sl_cuda_gemv_rope_store_bf16)
 * against the GEMV then sl_cuda_qkv_rope_store_bf16 on the same inputs: the
 * q columns and both caches bitwise the same. NORM: the fused kernel
 * normalises x itself, the unfused GEMV takes sl_cuda_rmsnorm_bf16's x. */
static void check_gemv_rope(uint64_t *rng, int n, int heads, int kv_heads, int hd, int in_dim,
                            int bias, int norm)
{
    const int slots_n = 256;
    const int units = heads + 2 * kv_heads, out_dim = units * hd;
    size_t wn = (size_t)out_dim * in_dim, xn = (size_t)n * in_dim, qn = (size_t)n * out_dim;
    size_t cache = (size_t)slots_n * kv_heads * hd, tab = (size_t)4096 * (hd / 2);
    sl_rope_config_t rc = {.type = SL_ROPE_LLAMA3, .rotary_dim = hd, .theta = 500000.0,
                           .factor = 8.0, .low_freq_factor = 1.0, .high_freq_factor = 4.0,
                           .original_max_position = 1024, .attention_factor = 1.0,
                           .inv_freq_dtype = SL_DTYPE_BF16};
    sl_rope_table_t *rope;
    if (sl_rope_table_create(&rc, 4096, &rope) != SL_OK)
        exit(EXIT_FAILURE);
    sl_bf16_t *w = gc_malloc(wn * 2), *x = gc_malloc(xn * 2);
    sl_bf16_t *got[2][3]; /* [unfused, fused][q, k cache, v cache] */
    float *b = gc_malloc((size_t)out_dim * 4);
    int32_t *pos = gc_malloc((size_t)n * 4);
    int64_t *slots = gc_malloc((size_t)n * 8);
    void *d[2][3];
    char what[128];

    gc_random_bf16(rng, w, NULL, wn, -1, 1);
    gc_random_bf16(rng, x, NULL, xn, -1, 1);
    for (int i = 0; i < out_dim; i++)
        b[i] = (float)(gpu_test_uniform(rng) - 0.5);
    for (int t = 0; t < n; t++) {
        pos[t] = (int32_t)(gpu_test_uniform(rng) * 4000);
        slots[t] = (int64_t)(t * 37 + 5) % slots_n;
    }
    void *d_w = gc_upload(w, wn * 2), *d_x = gc_upload(x, xn * 2);
    void *d_b = gc_upload(b, (size_t)out_dim * 4);
    void *d_cos = gc_upload(rope->cos, tab * 4), *d_sin = gc_upload(rope->sin, tab * 4);
    void *d_pos = gc_upload(pos, (size_t)n * 4), *d_slots = gc_upload(slots, (size_t)n * 8);
    for (int f = 0; f < 2; f++) {
        size_t bytes[3] = {qn * 2, cache * 2, cache * 2};
        for (int k = 0; k < 3; k++) {
            d[f][k] = gc_device(bytes[k]);
            got[f][k] = gc_malloc(bytes[k]);
            /* the caches: the same old contents; q: different poisons */
            GPU_CHECK(cudaMemset(d[f][k], k == 0 ? 0x7f + f : 0x3c, bytes[k]));
        }
    }
    const float *bb = bias ? d_b : NULL;
    norm_input_t in;
    norm_input(&in, rng, d_x, n, in_dim, norm);
    if (sl_cuda_gemv_bf16(d[0][0], 0, out_dim, in.x, in_dim, d_w, n, out_dim, in_dim, 0) !=
            SL_OK ||
        sl_cuda_qkv_rope_store_bf16(d[0][0], bb, NULL, NULL, 1e-6f, d_cos, d_sin, d_pos,
                                    d_slots, n, heads, kv_heads, hd, d[0][1], d[0][2],
                                    0) != SL_OK ||
        sl_cuda_gemv_rope_store_bf16(d[1][0], d_x, in_dim, d_w, bb, n, in_dim, d_cos, d_sin,
                                     d_pos, d_slots, heads, kv_heads, hd, d[1][1], d[1][2],
                                     in.norm, 0) != SL_OK)
        exit(EXIT_FAILURE);
    norm_input_free(&in);
    for (int f = 0; f < 2; f++) {
        gc_download(got[f][0], d[f][0], qn * 2);
        gc_download(got[f][1], d[f][1], cache * 2);
        gc_download(got[f][2], d[f][2], cache * 2);
    }
    /* q columns, then the caches, one after the other in got[f][0] */
    size_t qc = (size_t)heads * hd, all = (size_t)n * qc + 2 * cache;
    sl_bf16_t *cat[2] = {gc_malloc(all * 2), gc_malloc(all * 2)};
    for (int f = 0; f < 2; f++) {
        for (int t = 0; t < n; t++)
            memcpy(cat[f] + (size_t)t * qc, got[f][0] + (size_t)t * out_dim, qc * 2);
        memcpy(cat[f] + (size_t)n * qc, got[f][1], cache * 2);
        memcpy(cat[f] + (size_t)n * qc + cache, got[f][2], cache * 2);
    }
    snprintf(what, sizeof(what),
             "gemv+rope n=%d heads=%d/%d hd=%d in=%d%s%s: q and the caches vs %s", n, heads,
             kv_heads, hd, in_dim, bias ? " bias" : "", norm ? " norm" : "",
             norm ? "rmsnorm + two kernels" : "two kernels");
    report_fused(what, n, in_dim, cat[1], cat[0], all);
    free(cat[0]), free(cat[1]);
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 3; k++) {
            cudaFree(d[f][k]);
            free(got[f][k]);
        }
    cudaFree(d_w), cudaFree(d_x), cudaFree(d_b), cudaFree(d_cos), cudaFree(d_sin);
    cudaFree(d_pos), cudaFree(d_slots);
    free(w), free(x), free(b), free(pos), free(slots);
    sl_rope_table_free(rope);
}

int main(int argc, char **argv)
{
    gpu_test_require_device();
    uint64_t rng = gc_seed();

    check_embedding(&rng, 37, 1000, 128, 0);
    check_embedding(&rng, 64, 500, 4096, 300);
    check_embedding(&rng, 9, 77, 36, 10); /* scalar path */
    check_silu_bias(&rng, 33, 352);
    check_silu_bias(&rng, 5, 14336);
    check_silu_bias(&rng, 7, 37); /* scalar path */
    check_rope_kv(&rng, 17, 8, 4, 16, 0, 0, SL_ROPE_LLAMA3);
    check_rope_kv(&rng, 40, 8, 2, 64, 1, 0, SL_ROPE_DEFAULT);
    check_rope_kv(&rng, 9, 4, 2, 128, 0, 1, SL_ROPE_YARN);
    check_rope_kv(&rng, 5, 32, 8, 128, 0, 0, SL_ROPE_LLAMA3);
    check_rope_kv(&rng, 3, 2, 1, 256, 1, 1, SL_ROPE_LINEAR);
    for (int n = 1; n <= SL_CUDA_GEMV_MAX_ROWS; n++)
        check_gemv(&rng, n, 300 + n * 17, 512 + 64 * n, n % 2);
    check_gemv(&rng, 1, 1024, 4096, 0);
    check_gemv(&rng, 4, 333, 14336, 1);
    check_gemv(&rng, 8, 4099, 4096, 0); /* the tensor-core kernel: a partial block of rows */
    check_gemv(&rng, 3, 100, 520, 0);   /* columns not a multiple of 32: one warp per row */
    check_gemv(&rng, 1, 1001, 14336, 0); /* long rows: cut into parts, a warp each */
    check_gemv(&rng, 1, 77, 8192, 1);
    for (int n = 1; n <= SL_CUDA_GEMV_MAX_ROWS; n += 3)
        check_gemv_silu(&rng, n, 200 + 8 * n, 256 + 128 * n, 0);
    check_gemv_silu(&rng, 1, 7168, 4096, 0); /* Llama-3.1-8B at TP 2 */
    for (int n = 1; n <= SL_CUDA_GEMV_MAX_ROWS; n += 2)
        check_gemv_rope(&rng, n, 4, 2, 128, 256 + 64 * n, n % 3 == 0, 0);
    check_gemv_rope(&rng, 8, 6, 1, 16, 512, 1, 0);    /* the smallest head */
    check_gemv_rope(&rng, 1, 32, 8, 128, 4096, 0, 0); /* Llama-3.1-8B */
    check_gemv_rope(&rng, 2, 14, 1, 128, 3584, 1, 0); /* Qwen2.5-7B at TP 2: bias, 1 KV head */
    /* The norms inside the batch-1 GEMVs: rmsnorm.cu's block of 16 (32
     * threads), 512, 640, 1024 and 2 x 1024 packets emulated by 256 threads. */
    check_gemv_residual(&rng, 4096, 4096);  /* O of Llama-3.1-8B */
    check_gemv_residual(&rng, 4096, 14336); /* down: rows cut into parts */
    check_gemv_residual(&rng, 1000, 8192);
    check_gemv_residual(&rng, 128, 520);
    check_gemv_silu(&rng, 1, 7168, 4096, 1);  /* the wide build (896 blocks) */
    check_gemv_silu(&rng, 1, 14336, 4096, 1); /* the lean build (1792 blocks) */
    check_gemv_silu(&rng, 1, 300, 5120, 1);
    check_gemv_silu(&rng, 1, 100, 8192, 1);
    check_gemv_silu(&rng, 1, 40, 16384, 1);
    check_gemv_silu(&rng, 1, 64, 128, 1);
    check_gemv_rope(&rng, 1, 32, 8, 128, 4096, 0, 1); /* Llama-3.1-8B: lean (768 blocks) */
    check_gemv_rope(&rng, 1, 16, 4, 128, 4096, 0, 1); /* at TP 2: wide (384 blocks) */
    check_gemv_rope(&rng, 1, 28, 4, 128, 3584, 1, 1); /* Qwen2.5-7B: bias */
    check_gemv_rope(&rng, 1, 4, 2, 16, 128, 0, 1);
    /* Balanced launches (blocks an SM capped through unused shared memory,
     * as TP 2 runs them): the same bits, on one TP 2 rank's shapes. */
    sl_cuda_gemv_set_balance(1);
    check_gemv(&rng, 1, 4096, 2048, 0);
    check_gemv_residual(&rng, 4096, 7168);
    check_gemv_silu(&rng, 1, 7168, 4096, 0);
    check_gemv_silu(&rng, 1, 7168, 4096, 1);
    check_gemv_rope(&rng, 1, 16, 4, 128, 4096, 0, 0);
    check_gemv_rope(&rng, 1, 16, 4, 128, 4096, 0, 1);
    sl_cuda_gemv_set_balance(0);
    check_argmax(&rng, 9, 1505, 0);
    check_argmax(&rng, 4, 128256 / 2, 64128);
    check_argmax(&rng, 1, 128256, 0);    /* batch 1: 63 column ranges */
    check_argmax(&rng, 3, 300007, 7);    /* more columns than 64 ranges of the minimum */
    check_dummy(SL_T_Q, "model.layers.0.self_attn.q_proj.weight", 96, 64, 32, 32, 0, 64);
    check_dummy(SL_T_DOWN, "model.layers.3.mlp.down_proj.weight", 64, 352, 0, 64, 176, 176);
    check_dummy(SL_T_EMBED, "model.embed_tokens.weight", 1505, 128, 753, 752, 0, 128);
    check_dummy(SL_T_LM_HEAD, "lm_head.weight", 1000, 96, 0, 500, 0, 96);

    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench_gemv(1, 6144, 4096, 0);  /* qkv */
        bench_gemv(1, 28672, 4096, 0); /* gate/up */
        bench_gemv(1, 28672, 4096, 1); /* gate/up + silu */
        bench_gemv(1, 4096, 14336, 0); /* down */
        bench_gemv(1, 4096, 4096, 0);  /* o */
        bench_gemv(1, 3072, 4096, 0);  /* qkv, TP 2 */
        bench_gemv(1, 4096, 2048, 0);  /* o, TP 2 */
        bench_gemv(1, 14336, 4096, 1); /* gate/up + silu, TP 2 */
        bench_gemv(1, 4096, 7168, 0);  /* down, TP 2 */
        bench_gemv(1, 128256, 4096, 0); /* LM head */
        /* down's 28 KB rows against the same bytes in other row lengths */
        bench_gemv(1, 4096, 14400, 0);
        bench_gemv(1, 4096, 14272, 0);
        bench_gemv(1, 8192, 7168, 0);
        bench_gemv(1, 2048, 28672, 0);
        bench_gemv(1, 16384, 3584, 0);
        bench_gemv(8, 28672, 4096, 0);
        bench_gemv(8, 28672, 4096, 1);
        for (int n = 2; n <= SL_CUDA_GEMV_MAX_ROWS; n *= 2) {
            bench_gemv(n, 6144, 4096, 0);  /* qkv */
            bench_gemv(n, 28672, 4096, 0); /* gate/up */
            bench_gemv(n, 4096, 14336, 0); /* down */
        }
    }
    return gc_finish();
}
