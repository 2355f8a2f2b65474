/*
 * cuda_forward.c - the forward pass of one TP rank on its GPU, read top to
 * bottom like the CPU backend's (backend/cpu/forward.c), every step one
 * kernel or GEMM on the rank's stream:
 *
 *   embedding (vocab-parallel, all-reduce) -> per layer:
 *     residual += x; xn = RMSNorm(residual)              rmsnorm.cu (batch 1 at
 *                                                        TP 1: the add in the
 *                                                        GEMV before, the norm
 *                                                        in the GEMV after)
 *     qkv = xn W_qkv^T                                   one GEMM (q, k, v fused)
 *     bias, q/k norm, RoPE; k, v -> paged cache          rope_kv.cu (batch 1
 *                                                        without q/k norm: in
 *                                                        the QKV GEMV, gemv.cu)
 *     attn = softmax(q K^T) V over the cache             attention.cu
 *     x = attn W_o^T; all-reduce (+ bias)
 *     residual += x; xn = RMSNorm(residual)
 *     gu = xn W_gu^T                                     one GEMM (gate, up fused)
 *     act = silu(gate) * up                              activation.cu (batch 1:
 *                                                        in the gate/up GEMV)
 *     x = act W_down^T; all-reduce (+ bias)
 *   -> rows that need logits: final norm, LM head (float32, this rank's
 *      vocabulary), all-gather; or argmax and all-gather of (value, id).
 * An all-reduce and the bias and norm after it are one kernel where the
 * one-shot all-reduce runs (sl_cuda_all_reduce_norm); at batch 1, with
 * SLINFER_AR_PUSH=1, the O and down GEMVs push their rows to the peers
 * themselves (sl_cuda_row_parallel); by default (SLINFER_AR_IN_GEMV, on) the
 * all-reduce and norm go into the GEMV after them (sl_cuda_plan_ar_in_gemv).
 *
 * GEMMs with at most gemv_max_rows rows (decode) use the GEMV kernels (one
 * warp per row at batch 1, the tensor cores for 2..8 rows; the fusions into
 * the GEMV -- SiLU, RoPE/KV store, the all-reduce push -- only at batch 1:
 * sl_cuda_fuse_gemv), the rest cuBLAS (bf16 in, float32 accumulation).
 * Decode batches are captured
 * once per padded size, sampling mode and attention split count (a power of
 * two chosen from the longest context, so short contexts do not pay for 32
 * mostly empty splits) as a CUDA graph -- after one eager run, so every
 * kernel's module is loaded before capture -- and replayed.
 */
#include "config.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

/* ---- buffers ---------------------------------------------------------------- */

static sl_status_t sl_cuda_alloc(sl_cuda_rank_t *r, void *p_out, size_t bytes, const char *what)
{
    void **p = p_out;
    if (bytes == 0) {
        *p = NULL;
        return SL_OK;
    }
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        sl_error("rank %d: cudaMalloc of %.1f MB for %s on GPU %d: %s", r->rank,
                 (double)bytes / 1e6, what, r->device, cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
    }
    return SL_OK;
}

sl_status_t sl_cuda_rank_alloc_activations(sl_cuda_rank_t *r)
{
    const sl_cuda_backend_t *be = r->be;
    size_t t = (size_t)be->max_tokens, h = (size_t)be->config->hidden_size;
    size_t hd = (size_t)be->config->head_dim, chunk = (size_t)be->logit_chunk;
    size_t tp = (size_t)be->tp, vp = (size_t)be->vocab_pad;

    SL_RETURN_IF(sl_cuda_alloc(r, &r->x, t * h * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->residual, t * h * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->residual_alt, tp > 1 || be->ar_loopback ? h * 2 : 0,
                               "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->xn, t * h * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->qkv, t * (size_t)r->qkv_dim * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->attn, t * (size_t)r->heads * hd * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->gu, t * 2 * (size_t)r->inter * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->act, t * (size_t)r->inter * 2, "activations"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->attn_ws, (size_t)be->attn_ws_floats * 4, "attention"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->xl, chunk * h * 2, "logits"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->rl, chunk * h * 2, "logits"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->lg, chunk * vp * 4, "logits"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->gathered, tp > 1 ? tp * chunk * vp * 4 : 0, "logits"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->am, chunk * sizeof(sl_cuda_argmax_t), "argmax"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->am_part,
                               chunk * SL_CUDA_ARGMAX_MAX_PARTS * sizeof(sl_cuda_argmax_t),
                               "argmax"));
    SL_RETURN_IF(sl_cuda_alloc(r, &r->am_all, tp > 1 ? tp * chunk * sizeof(sl_cuda_argmax_t) : 0,
                               "argmax"));
    return SL_OK;
}

void sl_cuda_rank_free_activations(sl_cuda_rank_t *r)
{
    void *bufs[] = {r->x,  r->residual, r->xn, r->qkv,      r->attn, r->gu,    r->act,
                    r->attn_ws, r->xl,  r->rl, r->lg, r->gathered, r->am, r->am_all,
                    r->am_part, r->residual_alt};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        if (bufs[i] != NULL)
            (void)cudaFree(bufs[i]);
    r->x = r->residual = r->xn = r->qkv = r->attn = r->gu = r->act = r->xl = r->rl = NULL;
    r->residual_alt = NULL;
    r->attn_ws = r->lg = r->gathered = NULL;
    r->am = r->am_all = r->am_part = NULL;
}

/* ---- GEMM, collectives ------------------------------------------------------ */

sl_status_t sl_cuda_linear(sl_cuda_rank_t *r, void *out, int out_f32, int64_t ldo,
                           const uint16_t *x, int64_t ldx, const uint16_t *w, int n,
                           int out_dim, int in_dim)
{
    static const float one = 1.0f, zero = 0.0f;

    if (n == 0 || out_dim == 0)
        return SL_OK;
    if (n <= r->be->gemv_max_rows && sl_cuda_gemv_supported(n, in_dim, x, ldx, w))
        return sl_cuda_gemv_bf16(out, out_f32, ldo, x, ldx, w, n, out_dim, in_dim, r->stream);
    /* Column-major view: out^T [out_dim, n] = W [in_dim, out_dim]^T . x^T [in_dim, n]. */
    SL_CUBLAS_RETURN_IF_ERROR(cublasGemmEx(
        r->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, n, in_dim, &one, w, CUDA_R_16BF, in_dim, x,
        CUDA_R_16BF, (int)ldx, &zero, out, out_f32 ? CUDA_R_32F : CUDA_R_16BF, (int)ldo,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return SL_OK;
}

/* buf [count] bf16: the sum over the TP group, in place: the one-shot kernel
 * over peer memory (gpu/allreduce.cu) for the messages it takes -- the same
 * choice on every rank, as it depends on count only (buf is cudaMalloc'd) --
 * and NCCL for the rest. */
static sl_status_t sl_cuda_all_reduce(sl_cuda_rank_t *r, uint16_t *buf, size_t count)
{
    sl_cuda_ar_t *ar = r->be->ar;
    const int custom = sl_cuda_ar_supported(ar, buf, buf, count);

    if (r->nccl == NULL)
        return SL_OK;
    if (r->rank == 0 && !(r->ar_logged & (custom ? 1 : 2))) {
        r->ar_logged |= custom ? 1 : 2;
        sl_debug("CUDA backend: first all-reduce of %zu bytes through %s", count * 2,
                 custom ? "the one-shot kernel over peer memory" : "NCCL");
    }
    if (custom)
        return sl_cuda_ar_bf16(ar, r->rank, buf, buf, count, r->stream);
    SL_NCCL_RETURN_IF_ERROR(
        ncclAllReduce(buf, buf, count, ncclBfloat16, ncclSum, r->nccl, r->stream));
    return SL_OK;
}

/* x [n, h] = its sum over the TP group (+ bias [h] float32, or NULL); then,
 * with NORM ([h]; NULL: no more), residual [n, h] += x and xn [n, h] =
 * RMSNorm(residual) * NORM. One kernel where the one-shot all-reduce takes
 * the rows (the same bits as the sequence of three, gpu/allreduce.cu), the
 * sequence otherwise (TP 1, NCCL only, messages above its size); the same
 * choice on every rank, as it depends on n and h only. */
static sl_status_t sl_cuda_all_reduce_norm(sl_cuda_rank_t *r, int n, const float *bias,
                                           const uint16_t *norm, int pushed)
{
    sl_cuda_backend_t *be = r->be;
    const int h = (int)be->config->hidden_size;
    const float eps = (float)be->config->rms_norm_eps;

    if (norm != NULL &&
        sl_cuda_ar_rmsnorm_supported(be->ar, r->x, bias, r->residual, norm, r->xn, n, h)) {
        if (r->rank == 0) {
            if (!(r->ar_logged & 4))
                sl_debug("CUDA backend: first all-reduce of %zu bytes fused with the RMSNorm "
                         "after it",
                         (size_t)n * h * 2);
            r->ar_logged |= 4;
            be->info.fused_ar_norms++;
        }
        return sl_cuda_ar_rmsnorm_bf16(be->ar, r->rank, r->x, bias, r->residual, norm, r->xn, n,
                                       h, eps, pushed, r->stream);
    }
    SL_RETURN_IF(sl_cuda_all_reduce(r, r->x, (size_t)n * h));
    if (bias != NULL)
        SL_RETURN_IF(sl_cuda_add_bias_bf16(r->x, bias, n, h, r->stream));
    if (norm != NULL)
        SL_RETURN_IF(sl_cuda_rmsnorm_bf16(r->xn, r->x, r->residual, norm, n, h, eps, r->stream));
    return SL_OK;
}

/* Whether the GEMV of n rows takes the work after it into its kernel: where
 * it runs one warp per row (n below sl_cuda_gemv_mma_min_rows, i.e. batch 1),
 * whose per-row epilogue the fused kernels extend. */
static int sl_cuda_fuse_gemv(const sl_cuda_backend_t *be, int n)
{
    return n <= be->gemv_max_rows && n < sl_cuda_gemv_mma_min_rows();
}

/* x [n, h] = in [n, in_dim] W^T, this rank's part of a row-parallel
 * projection (attention output, MLP down) whose all-reduce + bias + NORM
 * comes next. With SLINFER_AR_PUSH=1, where that is the fused Lamport kernel
 * and the fused GEMV takes the rows, the GEMV pushes its rows into the peers' slots as it finishes them
 * (*pushed_p = 1, for sl_cuda_all_reduce_norm): the all-reduce kernel then
 * only waits and sums, its pushes no longer on the path. The same choice on
 * every rank: it depends on n and the shapes only. */
static sl_status_t sl_cuda_row_parallel(sl_cuda_rank_t *r, const uint16_t *in, int in_dim,
                                        const uint16_t *w, int n, const float *bias,
                                        const uint16_t *norm, int *pushed_p)
{
    const sl_cuda_backend_t *be = r->be;
    const int h = (int)be->config->hidden_size;
    sl_cuda_ar_push_t push;

    *pushed_p = 0;
    if (be->ar_push && norm != NULL && sl_cuda_fuse_gemv(be, n) &&
        sl_cuda_ar_rmsnorm_supported(be->ar, r->x, bias, r->residual, norm, r->xn, n, h) &&
        sl_cuda_gemv_push_supported(n, h, in_dim, in, in_dim, w, r->x) &&
        sl_cuda_ar_push_target(be->ar, r->rank, (size_t)n * h, &push)) {
        *pushed_p = 1;
        return sl_cuda_gemv_push_bf16(r->x, in, in_dim, w, n, h, in_dim, &push, r->stream);
    }
    return sl_cuda_linear(r, r->x, 0, h, in, in_dim, w, n, h, in_dim);
}

/*
 * Batch 1 at TP > 1 (SLINFER_AR_IN_GEMV) runs each all-reduce between two
 * layers' GEMVs, and the norm after it, inside the GEMV after it: the O and
 * down GEMVs push their rows into the peers' static set of that call
 * (sl_cuda_ar_set_push_target: call 2 l for layer l's O, 2 l + 1 for its
 * down), and every block of the gate/up + SiLU and next QKV + RoPE GEMVs
 * waits for the peers' packets, sums them with its own part and the
 * residual, and normalises the row (sl_cuda_gemv_norm_t with a gather):
 * 64 kernels a token fewer for 32 layers. The embedding's all-reduce and the
 * last layer's keep their kernels (no GEMV before, resp. the logits after).
 * Call i reads the residual stream from one buffer and block 0 writes the
 * next into the other (the other blocks still read the first): R[i % 2] ->
 * R[(i + 1) % 2], R = {residual, residual_alt}; the last call (2 L - 2)
 * leaves it in residual_alt for the logits.
 */
static int sl_cuda_plan_ar_in_gemv(const sl_cuda_rank_t *r)
{
    const sl_cuda_backend_t *be = r->be;
    const sl_model_config_t *c = be->config;
    const int h = (int)c->hidden_size, hd = (int)c->head_dim, attn_dim = r->heads * hd;
    sl_cuda_ar_push_t push;
    size_t count = 0;
    int ok = be->ar != NULL && r->residual_alt != NULL &&
             sl_cuda_ar_sets(be->ar, &count) == 2 * (int)c->num_layers - 1 &&
             count == (size_t)h && sl_cuda_ar_set_push_target(be->ar, r->rank, 0, count, &push);

    for (int64_t l = 0; ok && l < c->num_layers; l++) {
        const sl_cuda_layer_t *L = &r->w.layers[l];
        /* gate/up reads the stream from residual, the next QKV from
         * residual_alt; layer 0's QKV reads xn (the embedding's all-reduce) */
        ok = L->q_norm == NULL && L->b_gu == NULL &&
             sl_cuda_gemv_norm_supported(1, h, r->residual_alt, L->attn_norm) &&
             sl_cuda_gemv_norm_supported(1, h, r->residual, L->mlp_norm) &&
             sl_cuda_gemv_rope_supported(1, h, r->residual_alt, h, L->w_qkv, hd) &&
             sl_cuda_gemv_rope_supported(1, h, r->xn, h, L->w_qkv, hd) &&
             sl_cuda_gemv_push_supported(1, h, attn_dim, r->attn, attn_dim, L->w_o, r->x) &&
             sl_cuda_gemv_push_supported(1, h, r->inter, r->act, r->inter, L->w_down, r->x) &&
             sl_cuda_gemv_supported(1, h, r->residual, h, L->w_gu);
    }
    return ok;
}

/* Whether a step of N tokens runs the all-reduces inside the GEMVs. */
static int sl_cuda_ar_in_gemv(const sl_cuda_rank_t *r, int n)
{
    return r->ar_in_gemv && n == 1;
}

/* Batch 1 at TP 1 runs each layer's two norms inside the GEMVs after them:
 * the O and down GEMVs add their products into the residual stream
 * (sl_cuda_gemv_residual_bf16), and every block of the QKV + RoPE and
 * gate/up + SiLU GEMVs normalises the residual row itself before its
 * product (sl_cuda_gemv_norm_t): 64 kernels a token fewer for 32 layers,
 * the same bits. Only where no all-reduce comes between a projection and the
 * norm (TP 1), the layers have none of what the fused kernels leave out
 * (q/k norm, o, gate/up and down biases), and every GEMV takes its operands. */
void sl_cuda_rank_plan_fusions(sl_cuda_rank_t *r)
{
    const sl_cuda_backend_t *be = r->be;
    const sl_model_config_t *c = be->config;
    const int h = (int)c->hidden_size, hd = (int)c->head_dim, attn_dim = r->heads * hd;
    /* no all-reduce between a projection and its norm: TP 1 without a group */
    int ok = be->gemv_norm && be->tp == 1 && be->ar == NULL && c->num_layers > 0;

    for (int64_t l = 0; ok && l < c->num_layers; l++) {
        const sl_cuda_layer_t *L = &r->w.layers[l];
        ok = L->q_norm == NULL && L->b_o == NULL && L->b_gu == NULL && L->b_down == NULL &&
             sl_cuda_gemv_norm_supported(1, h, r->residual, L->attn_norm) &&
             sl_cuda_gemv_norm_supported(1, h, r->residual, L->mlp_norm) &&
             sl_cuda_gemv_rope_supported(1, h, r->residual, h, L->w_qkv, hd) &&
             sl_cuda_gemv_supported(1, attn_dim, r->attn, attn_dim, L->w_o) &&
             sl_cuda_gemv_supported(1, h, r->residual, h, L->w_gu) &&
             sl_cuda_gemv_supported(1, r->inter, r->act, r->inter, L->w_down);
    }
    r->norm_in_gemv = ok;
    if (ok && r->rank == 0)
        sl_debug("CUDA backend: batch-1 steps run the layers' RMSNorms inside the GEMVs");
    r->ar_in_gemv = sl_cuda_plan_ar_in_gemv(r);
    if (r->ar_in_gemv && r->rank == 0)
        sl_debug("CUDA backend: batch-1 steps run the layers' all-reduces and RMSNorms inside "
                 "the GEMVs");
}

/* Batch 1 with ar_in_gemv: the call I's norm before a GEMV, the all-reduce of
 * x (+ BIAS) in it, the residual stream from R[i % 2] (returned in *z_p, the
 * GEMV's x) to R[(i + 1) % 2]. */
static sl_cuda_gemv_norm_t sl_cuda_gathered_norm(const sl_cuda_rank_t *r, int i,
                                                 const uint16_t *weight, const float *bias,
                                                 const uint16_t **z_p)
{
    const size_t h = (size_t)r->be->config->hidden_size;
    uint16_t *res[2] = {r->residual, r->residual_alt};
    sl_cuda_gemv_norm_t norm = {
        .weight = weight,
        .eps = (float)r->be->config->rms_norm_eps,
        .partial = r->x,
        .bias = bias,
        .residual_out = res[(i + 1) % 2],
    };
    /* planned (sl_cuda_plan_ar_in_gemv): the set exists for every call */
    (void)sl_cuda_ar_set_gather(r->be->ar, r->rank, i, h, &norm.gather);
    *z_p = res[i % 2];
    return norm;
}

/* Batch 1 with ar_in_gemv: x [1, h] = in W^T, pushed into call I's set on
 * every peer. */
static sl_status_t sl_cuda_pushed_projection(sl_cuda_rank_t *r, int i, const uint16_t *in,
                                             int in_dim, const uint16_t *w)
{
    const int h = (int)r->be->config->hidden_size;
    sl_cuda_ar_push_t push;

    (void)sl_cuda_ar_set_push_target(r->be->ar, r->rank, i, (size_t)h, &push);
    return sl_cuda_gemv_push_bf16(r->x, in, in_dim, w, 1, h, in_dim, &push, r->stream);
}

/* ---- the layers --------------------------------------------------------------- */

static sl_status_t sl_cuda_enqueue_layers(sl_cuda_rank_t *r, const sl_cuda_step_t *st)
{
    const sl_cuda_backend_t *be = r->be;
    const sl_model_config_t *c = be->config;
    const cudaStream_t stream = r->stream;
    const int n = st->num_tokens, h = (int)c->hidden_size, hd = (int)c->head_dim;
    const int heads = r->heads, kv_heads = r->kv_heads, inter = r->inter;
    const int qkv_dim = r->qkv_dim, attn_dim = heads * hd;
    const float eps = (float)c->rms_norm_eps;
    const char *a = r->arena;
    const int32_t *tokens = (const int32_t *)(a + st->layout.tokens);         /* [n] */
    const int32_t *positions = (const int32_t *)(a + st->layout.positions);   /* [n] */
    const int64_t *slots = (const int64_t *)(a + st->layout.slots);           /* [n] */
    sl_cuda_attn_meta_t meta = {
        .positions = positions,
        .seq_of = (const int32_t *)(a + st->layout.seq_of),
        .block_offset = (const int32_t *)(a + st->layout.block_offset),
        .block_tables = (const int32_t *)(a + st->layout.block_tables),
        .decode_tokens = (const int32_t *)(a + st->layout.decode_tokens),
        .num_decode = st->num_decode,
        .splits = st->splits,
        .tiles = (const int32_t *)(a + st->layout.tiles),
        .num_tiles = st->num_tiles,
    };
    sl_cuda_attn_shape_t shape = {
        .num_heads = heads, .num_kv_heads = kv_heads, .head_dim = hd,
        .block_size = be->block_size, .scale = (float)(1.0 / sqrt((double)hd)),
    };

    /* Embedding: each rank gathers its vocabulary rows; the sum is exact.
     * Every all-reduce of x but the last layer's takes the norm after it. */
    SL_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(r->residual, 0, (size_t)n * h * 2, stream));
    SL_RETURN_IF(sl_cuda_embedding_bf16(r->x, tokens, n, r->w.embed, r->vocab_local, h,
                                        r->vocab_begin, stream));
    SL_RETURN_IF(sl_cuda_all_reduce_norm(
        r, n, NULL, c->num_layers > 0 ? r->w.layers[0].attn_norm : NULL, 0));

    /* Batch 1 at TP 1: the norms inside the GEMVs (sl_cuda_rank_plan_fusions);
     * the residual then holds z = residual + x where xn would be RMSNorm(z). */
    const int norm_in_gemv = r->norm_in_gemv && n == 1 && sl_cuda_fuse_gemv(be, n);
    sl_cuda_gemv_norm_t norm = {.eps = eps};
    /* Batch 1 at TP > 1: the all-reduces and norms inside the GEMVs
     * (sl_cuda_plan_ar_in_gemv); call 2 l + 1's sum goes into layer l + 1's QKV. */
    const int ar_in_gemv = sl_cuda_ar_in_gemv(r, n);
    const float *prev_bias = NULL; /* the down bias of the layer before */

    for (int64_t l = 0; l < c->num_layers; l++) {
        const sl_cuda_layer_t *L = &r->w.layers[l];
        uint16_t *k_cache = r->kv + (size_t)l * 2 * r->kv_layer_elems; /* [slots, kv, hd] */
        uint16_t *v_cache = k_cache + r->kv_layer_elems;
        const uint16_t *next_norm = l + 1 < c->num_layers ? r->w.layers[l + 1].attn_norm : NULL;
        int pushed;

        /* Attention on xn = norm(residual += x), done by the all-reduce before
         * (or, norm_in_gemv or ar_in_gemv past layer 0, by the QKV GEMV itself). */
        if (ar_in_gemv && l > 0) {
            const uint16_t *z;
            sl_cuda_gemv_norm_t g = sl_cuda_gathered_norm(r, (int)(2 * l - 1), L->attn_norm,
                                                          prev_bias, &z);
            SL_RETURN_IF(sl_cuda_gemv_rope_store_bf16(
                r->qkv, z, h, L->w_qkv, L->b_qkv, n, h, r->rope_cos, r->rope_sin, positions,
                slots, heads, kv_heads, hd, k_cache, v_cache, &g, stream));
        } else if (norm_in_gemv) {
            norm.weight = L->attn_norm;
            SL_RETURN_IF(sl_cuda_gemv_rope_store_bf16(
                r->qkv, r->residual, h, L->w_qkv, L->b_qkv, n, h, r->rope_cos, r->rope_sin,
                positions, slots, heads, kv_heads, hd, k_cache, v_cache, &norm, stream));
        } else if (L->q_norm == NULL && sl_cuda_fuse_gemv(be, n) &&
                   sl_cuda_gemv_rope_supported(n, h, r->xn, h, L->w_qkv, hd)) {
            /* batch 1: the RoPE/KV store in the QKV GEMV's kernel, same bits */
            SL_RETURN_IF(sl_cuda_gemv_rope_store_bf16(
                r->qkv, r->xn, h, L->w_qkv, L->b_qkv, n, h, r->rope_cos, r->rope_sin, positions,
                slots, heads, kv_heads, hd, k_cache, v_cache, NULL, stream));
        } else {
            SL_RETURN_IF(
                sl_cuda_linear(r, r->qkv, 0, qkv_dim, r->xn, h, L->w_qkv, n, qkv_dim, h));
            SL_RETURN_IF(sl_cuda_qkv_rope_store_bf16(r->qkv, L->b_qkv, L->q_norm, L->k_norm, eps,
                                                     r->rope_cos, r->rope_sin, positions, slots,
                                                     n, heads, kv_heads, hd, k_cache, v_cache,
                                                     stream));
        }
        shape.window = L->window;
        SL_RETURN_IF(sl_cuda_paged_attention_bf16(r->attn, r->qkv, qkv_dim, k_cache, v_cache,
                                                  &meta, &shape, r->attn_ws, stream));
        if (ar_in_gemv) {
            SL_RETURN_IF(sl_cuda_pushed_projection(r, (int)(2 * l), r->attn, attn_dim, L->w_o));
        } else if (norm_in_gemv) {
            SL_RETURN_IF(
                sl_cuda_gemv_residual_bf16(r->residual, r->attn, L->w_o, h, attn_dim, stream));
        } else {
            SL_RETURN_IF(sl_cuda_row_parallel(r, r->attn, attn_dim, L->w_o, n, L->b_o,
                                              L->mlp_norm, &pushed));
            SL_RETURN_IF(sl_cuda_all_reduce_norm(r, n, L->b_o, L->mlp_norm, pushed));
        }

        /* MLP: residual += x; xn = norm(residual); x = down(silu(gate) * up). */
        if (ar_in_gemv) {
            const uint16_t *z;
            sl_cuda_gemv_norm_t g =
                sl_cuda_gathered_norm(r, (int)(2 * l), L->mlp_norm, L->b_o, &z);
            SL_RETURN_IF(
                sl_cuda_gemv_silu_bf16(r->act, inter, z, h, L->w_gu, n, inter, h, &g, stream));
        } else if (norm_in_gemv) {
            norm.weight = L->mlp_norm;
            SL_RETURN_IF(sl_cuda_gemv_silu_bf16(r->act, inter, r->residual, h, L->w_gu, n, inter,
                                                h, &norm, stream));
        } else if (L->b_gu == NULL && sl_cuda_fuse_gemv(be, n) &&
                   sl_cuda_gemv_supported(n, h, r->xn, h, L->w_gu)) {
            /* batch 1: gate/up GEMV and SiLU in one kernel, same bits */
            SL_RETURN_IF(sl_cuda_gemv_silu_bf16(r->act, inter, r->xn, h, L->w_gu, n, inter, h,
                                                NULL, stream));
        } else {
            SL_RETURN_IF(
                sl_cuda_linear(r, r->gu, 0, 2 * inter, r->xn, h, L->w_gu, n, 2 * inter, h));
            if (L->b_gu != NULL)
                SL_RETURN_IF(sl_cuda_add_bias_bf16(r->gu, L->b_gu, n, 2 * inter, stream));
            SL_RETURN_IF(sl_cuda_silu_mul_bf16(r->act, r->gu, n, inter, stream));
        }
        /* The next layer's attention norm; after the last, the final norm
         * comes with the logits (which read x and the residual). */
        if (ar_in_gemv && next_norm != NULL) {
            SL_RETURN_IF(sl_cuda_pushed_projection(r, (int)(2 * l + 1), r->act, inter, L->w_down));
            prev_bias = L->b_down;
        } else if (norm_in_gemv && next_norm != NULL) {
            SL_RETURN_IF(
                sl_cuda_gemv_residual_bf16(r->residual, r->act, L->w_down, h, inter, stream));
        } else {
            SL_RETURN_IF(sl_cuda_row_parallel(r, r->act, inter, L->w_down, n, L->b_down,
                                              next_norm, &pushed));
            SL_RETURN_IF(sl_cuda_all_reduce_norm(r, n, L->b_down, next_norm, pushed));
        }
    }
    return SL_OK;
}

/* Logit rows [c0, c0 + cn) of the step: final norm, LM head, and to rank 0's
 * pinned buffer either the gathered float32 logits or every rank's argmax. */
static sl_status_t sl_cuda_enqueue_logits(sl_cuda_rank_t *r, const sl_cuda_step_t *st,
                                          int32_t c0, int32_t cn)
{
    sl_cuda_backend_t *be = r->be;
    const sl_model_config_t *c = be->config;
    const cudaStream_t stream = r->stream;
    const int h = (int)c->hidden_size, vp = be->vocab_pad;
    const int32_t *rows = (const int32_t *)((const char *)r->arena + st->layout.logit_rows) + c0;

    SL_RETURN_IF(sl_cuda_gather_rows_bf16(r->xl, r->x, rows, cn, h, stream));
    /* the residual stream: where the layers left it (sl_cuda_plan_ar_in_gemv) */
    SL_RETURN_IF(sl_cuda_gather_rows_bf16(
        r->rl, sl_cuda_ar_in_gemv(r, st->num_tokens) ? r->residual_alt : r->residual, rows, cn, h,
        stream));
    SL_RETURN_IF(sl_cuda_rmsnorm_bf16(r->xl, r->xl, r->rl, r->w.final_norm, cn, h,
                                      (float)c->rms_norm_eps, stream));
    SL_RETURN_IF(sl_cuda_linear(r, r->lg, 1, vp, r->xl, h, r->w.lm_head, cn, r->vocab_local, h));

    if (st->greedy) {
        SL_RETURN_IF(sl_cuda_argmax_f32(r->am, r->lg, cn, r->vocab_local, vp, r->vocab_begin,
                                        r->am_part, stream));
        const sl_cuda_argmax_t *src = r->am;
        if (r->nccl != NULL) {
            SL_NCCL_RETURN_IF_ERROR(ncclAllGather(r->am, r->am_all,
                                                  (size_t)cn * sizeof(sl_cuda_argmax_t),
                                                  ncclUint8, r->nccl, stream));
            src = r->am_all;
        }
        if (r->rank == 0)
            SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(be->am_host, src,
                                                    (size_t)be->tp * cn *
                                                        sizeof(sl_cuda_argmax_t),
                                                    cudaMemcpyDeviceToHost, stream));
        return SL_OK;
    }
    const float *src = r->lg; /* [tp, cn, vp] after the gather */
    if (r->nccl != NULL) {
        SL_NCCL_RETURN_IF_ERROR(ncclAllGather(r->lg, r->gathered, (size_t)cn * vp, ncclFloat,
                                              r->nccl, stream));
        src = r->gathered;
    }
    /* forward_sample: rank 0 samples them where they are (cuda_sample.c). */
    if (r->rank != 0 || st->sample)
        return SL_OK;
    for (int k = 0; k < be->tp; k++) {
        const sl_rank_geometry_t *g = &be->model->ranks[k].geometry;
        size_t vk = (size_t)(g->vocab_end - g->vocab_begin);
        SL_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(
            be->logits_host + g->vocab_begin, (size_t)c->vocab_size * 4,
            src + (size_t)k * cn * vp, (size_t)vp * 4, vk * 4, (size_t)cn,
            cudaMemcpyDeviceToHost, stream));
    }
    return SL_OK;
}

/* Rank 0: the results of logit rows [c0, c0 + cn) from the pinned buffers
 * to the caller's arrays (padding rows dropped). */
static void sl_cuda_copy_out(sl_cuda_backend_t *be, const sl_cuda_step_t *st, int32_t c0,
                             int32_t cn)
{
    int32_t real = st->real_logits - c0 < cn ? st->real_logits - c0 : cn;
    size_t vocab = (size_t)be->config->vocab_size;

    if (real <= 0)
        return;
    if (st->sample) {
        sl_cuda_sample_copy_out(be, st, c0, real);
        return;
    }
    if (!st->greedy) {
        memcpy(st->logits + (size_t)c0 * vocab, be->logits_host, (size_t)real * vocab * 4);
        return;
    }
    for (int32_t i = 0; i < real; i++) {
        sl_cuda_argmax_t best = be->am_host[i];
        /* Ranks hold increasing id ranges: a later rank wins only if larger. */
        for (int k = 1; k < be->tp; k++)
            if (be->am_host[(size_t)k * cn + i].value > best.value)
                best = be->am_host[(size_t)k * cn + i];
        st->tokens_out[c0 + i] = best.index;
    }
}

/* ---- waiting -------------------------------------------------------------- */

sl_status_t sl_cuda_rank_wait(sl_cuda_rank_t *r)
{
    sl_cuda_backend_t *be = r->be;
    double start = 0;

    for (unsigned spins = 0;; spins++) {
        cudaError_t e = cudaStreamQuery(r->stream);
        int waiter, peer;
        if (be->ar != NULL && sl_cuda_ar_failed(be->ar, &waiter, &peer)) {
            /* Its kernel gave up: the stream completes, with garbage. */
            sl_error("rank %d (GPU %d): the one-shot all-reduce of rank %d waited more than "
                     "%.0f s (SLINFER_CUDA_TIMEOUT) for rank %d: a peer is dead or hung",
                     r->rank, r->device, waiter, be->timeout_s, peer);
            return SL_ERR_NCCL;
        }
        if (e == cudaSuccess)
            return SL_OK;
        if (e != cudaErrorNotReady) {
            sl_error("rank %d (GPU %d): the step failed: %s (%s)", r->rank, r->device,
                     cudaGetErrorName(e), cudaGetErrorString(e));
            return SL_ERR_CUDA;
        }
        if (r->nccl != NULL && !r->nccl_aborted) {
            ncclResult_t async = ncclSuccess;
            ncclResult_t q = ncclCommGetAsyncError(r->nccl, &async);
            if (q != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
                sl_error("rank %d (GPU %d): NCCL: %s (%s)", r->rank, r->device,
                         ncclGetErrorString(q != ncclSuccess ? q : async),
                         ncclGetLastError(r->nccl));
                return SL_ERR_NCCL;
            }
        }
        if (atomic_load(&be->failed)) {
            sl_error("rank %d (GPU %d): stopping: another rank failed", r->rank, r->device);
            return SL_ERR_NCCL;
        }
        /* Spin for short steps; past the first few hundred polls, check the
         * clock and yield the core. */
        if (spins == 256)
            start = sl_cuda_clock();
        if (spins > 256) {
            if ((spins & 255) == 0 && sl_cuda_clock() - start > be->timeout_s) {
                sl_error("rank %d (GPU %d): the step has not finished after %.0f s "
                         "(SLINFER_CUDA_TIMEOUT): a peer is dead or hung",
                         r->rank, r->device, be->timeout_s);
                return SL_ERR_NCCL;
            }
            sched_yield();
        }
    }
}

/* ---- graphs ------------------------------------------------------------------- */

static cudaGraphExec_t sl_cuda_find_graph(const sl_cuda_rank_t *r, const sl_cuda_step_t *st)
{
    for (int i = 0; i < r->num_graphs; i++)
        if (r->graphs[i].bs == st->graph_bs && r->graphs[i].greedy == st->greedy &&
            r->graphs[i].splits == st->splits && r->graphs[i].sample == st->sample)
            return r->graphs[i].exec;
    return NULL;
}

void sl_cuda_rank_free_graphs(sl_cuda_rank_t *r)
{
    for (int i = 0; i < r->num_graphs; i++)
        (void)cudaGraphExecDestroy(r->graphs[i].exec);
    free(r->graphs);
    r->graphs = NULL;
    r->num_graphs = 0;
}

/* Records ST (a padded decode step) into a graph kept for its size. */
static sl_status_t sl_cuda_capture(sl_cuda_rank_t *r, const sl_cuda_step_t *st)
{
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    sl_cuda_graph_t *grown;
    sl_status_t s;

    grown = realloc(r->graphs, (size_t)(r->num_graphs + 1) * sizeof(*grown));
    if (grown == NULL) {
        sl_error("out of memory for a CUDA graph");
        return SL_ERR_NO_MEMORY;
    }
    r->graphs = grown;
    SL_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(r->stream, cudaStreamCaptureModeThreadLocal));
    s = sl_cuda_enqueue_layers(r, st);
    if (s == SL_OK)
        s = sl_cuda_enqueue_logits(r, st, 0, st->num_logits);
    cudaError_t e = cudaStreamEndCapture(r->stream, &graph);
    if (s == SL_OK && e != cudaSuccess) {
        sl_error("rank %d: capturing the decode graph of batch %d: %s", r->rank, st->graph_bs,
                 cudaGetErrorString(e));
        s = SL_ERR_CUDA;
    }
    if (s == SL_OK) {
        e = cudaGraphInstantiate(&exec, graph, 0);
        if (e != cudaSuccess) {
            sl_error("rank %d: instantiating the decode graph of batch %d: %s", r->rank,
                     st->graph_bs, cudaGetErrorString(e));
            s = SL_ERR_CUDA;
        }
    }
    if (graph != NULL)
        (void)cudaGraphDestroy(graph);
    if (s != SL_OK)
        return s;
    r->graphs[r->num_graphs++] =
        (sl_cuda_graph_t){st->graph_bs, st->greedy, st->splits, exec, st->sample};
    return SL_OK;
}

/* ---- one step ----------------------------------------------------------------- */

/* Makes the device step buffer hold the step (graphs point into it: a new
 * buffer drops them). */
static sl_status_t sl_cuda_rank_arena(sl_cuda_rank_t *r, size_t bytes)
{
    if (bytes <= r->arena_cap)
        return SL_OK;
    sl_cuda_rank_free_graphs(r);
    if (r->arena != NULL)
        SL_CUDA_RETURN_IF_ERROR(cudaFree(r->arena));
    r->arena = NULL;
    r->arena_cap = 0;
    size_t cap = bytes + bytes / 2;
    SL_RETURN_IF(sl_cuda_alloc(r, &r->arena, cap, "the step tables"));
    r->arena_cap = cap;
    return SL_OK;
}

sl_status_t sl_cuda_rank_step(sl_cuda_rank_t *r)
{
    sl_cuda_backend_t *be = r->be;
    const sl_cuda_step_t *st = &be->step;

    SL_RETURN_IF(sl_cuda_rank_arena(r, st->layout.bytes));
    const int timed = r->step_ev[0] != NULL && st->graph_bs > 0;
    if (timed)
        SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(r->step_ev[0], r->stream));
    SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(r->arena, be->arena_host, st->layout.bytes,
                                            cudaMemcpyHostToDevice, r->stream));
    if (st->graph_bs > 0) {
        cudaGraphExec_t exec = sl_cuda_find_graph(r, st);
        if (exec != NULL) {
            SL_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec, r->stream));
        } else {
            SL_RETURN_IF(sl_cuda_enqueue_layers(r, st));
            SL_RETURN_IF(sl_cuda_enqueue_logits(r, st, 0, st->num_logits));
        }
        /* Sampling runs eagerly after the graph: its inputs change every step. */
        if (st->sample && r->rank == 0)
            SL_RETURN_IF(sl_cuda_sample_enqueue(r, st, 0, st->num_logits));
        if (timed)
            SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(r->step_ev[1], r->stream));
        SL_RETURN_IF(sl_cuda_rank_wait(r));
        if (r->rank == 0) {
            sl_cuda_copy_out(be, st, 0, st->num_logits);
            if (exec != NULL)
                be->info.graph_replays++;
            else
                be->info.eager_steps++;
        }
        if (timed && exec != NULL) {
            float ms = 0;
            SL_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, r->step_ev[0], r->step_ev[1]));
            be->info.timed_gpu_s += ms * 1e-3;
            be->info.timed_steps++;
        }
        /* Captured after an eager run of the same shape (every module loaded);
         * capture records, it does not run. */
        if (exec == NULL)
            SL_RETURN_IF(sl_cuda_capture(r, st));
        return SL_OK;
    }

    SL_RETURN_IF(sl_cuda_enqueue_layers(r, st));
    if (st->num_logits == 0)
        SL_RETURN_IF(sl_cuda_rank_wait(r));
    for (int32_t c0 = 0; c0 < st->num_logits; c0 += be->logit_chunk) {
        int32_t cn = st->num_logits - c0 < be->logit_chunk ? st->num_logits - c0
                                                           : be->logit_chunk;
        SL_RETURN_IF(sl_cuda_enqueue_logits(r, st, c0, cn));
        if (st->sample && r->rank == 0)
            SL_RETURN_IF(sl_cuda_sample_enqueue(r, st, c0, cn));
        SL_RETURN_IF(sl_cuda_rank_wait(r));
        if (r->rank == 0)
            sl_cuda_copy_out(be, st, c0, cn);
    }
    if (r->rank == 0)
        be->info.eager_steps++;
    return SL_OK;
}
