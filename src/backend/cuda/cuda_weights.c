/*
 * cuda_weights.c - one rank's weights in device memory: the layout (fused
 * QKV and gate/up matrices, bf16 norms, float32 biases, all in one
 * allocation) and its filling, from the model's host views through pinned
 * staging buffers, or generated in place (--load-format dummy).
 *
 * Staging: two pinned buffers per rank; while the device copies one, the
 * host fills the other (memcpy of bf16 rows from the mapped checkpoint, or
 * conversion from F16/F32), so the load runs at the slower of page-cache
 * reads and PCIe, and all ranks load at once, one thread each.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/bf16.h"
#include "core/log.h"
#include "model/dtype.h"

#define SL_STAGE_BYTES ((size_t)64 << 20)
#define SL_ALIGN 256

typedef struct sl_stage {
    void *buf[2];      /* pinned, SL_STAGE_BYTES each */
    cudaEvent_t ev[2]; /* the device copy out of buf[i] is done */
    int next;
} sl_stage_t;

/* ---- layout ----------------------------------------------------------------- */

/* Reserves BYTES at the next aligned offset of *cursor; returns the address
 * relative to BASE (0 while only sizing). */
static void *sl_carve(uintptr_t base, size_t *cursor, size_t bytes)
{
    size_t at = (*cursor + SL_ALIGN - 1) & ~(size_t)(SL_ALIGN - 1);
    *cursor = at + bytes;
    return (void *)(base + at);
}

/* Points r->w's arrays into BASE (0: only sizes); returns the bytes. */
static size_t sl_cuda_weights_layout(sl_cuda_rank_t *r, uintptr_t base)
{
    const sl_model_config_t *c = r->be->config;
    size_t h = (size_t)c->hidden_size, hd = (size_t)c->head_dim, cur = 0;
    size_t vl = (size_t)r->vocab_local, qkv = (size_t)r->qkv_dim, inter = (size_t)r->inter;
    size_t attn_cols = (size_t)r->heads * hd;
    sl_cuda_weights_t *w = &r->w;

    w->embed = sl_carve(base, &cur, vl * h * 2);
    w->lm_head = c->tie_word_embeddings ? w->embed : sl_carve(base, &cur, vl * h * 2);
    w->final_norm = sl_carve(base, &cur, h * 2);
    for (int64_t l = 0; l < c->num_layers; l++) {
        sl_cuda_layer_t *L = &w->layers[l];
        L->w_qkv = sl_carve(base, &cur, qkv * h * 2);
        L->w_o = sl_carve(base, &cur, h * attn_cols * 2);
        L->w_gu = sl_carve(base, &cur, 2 * inter * h * 2);
        L->w_down = sl_carve(base, &cur, h * inter * 2);
        L->attn_norm = sl_carve(base, &cur, h * 2);
        L->mlp_norm = sl_carve(base, &cur, h * 2);
        L->q_norm = c->qk_norm ? sl_carve(base, &cur, hd * 2) : NULL;
        L->k_norm = c->qk_norm ? sl_carve(base, &cur, hd * 2) : NULL;
        L->b_qkv = c->qkv_bias ? sl_carve(base, &cur, qkv * 4) : NULL;
        L->b_o = c->o_bias ? sl_carve(base, &cur, h * 4) : NULL;
        L->b_gu = c->mlp_bias ? sl_carve(base, &cur, 2 * inter * 4) : NULL;
        L->b_down = c->mlp_bias ? sl_carve(base, &cur, h * 4) : NULL;
        L->window = r->be->model->ranks[r->rank].layers[l].window;
    }
    return cur;
}

/* Where SPEC's shard goes on rank R: *dst_p and whether it is float32 (a
 * bias) rather than bf16. */
static void sl_cuda_spec_dst(sl_cuda_rank_t *r, const sl_tensor_spec_t *spec, void **dst_p,
                             int *f32_p)
{
    const sl_model_config_t *c = r->be->config;
    size_t h = (size_t)c->hidden_size, hd = (size_t)c->head_dim;
    size_t q_rows = (size_t)r->heads * hd, kv_rows = (size_t)r->kv_heads * hd;
    size_t inter = (size_t)r->inter;
    sl_cuda_layer_t *L = spec->layer >= 0 ? &r->w.layers[spec->layer] : NULL;
    void *dst = NULL;
    int f32 = 0;

    switch (spec->role) {
    case SL_T_EMBED: dst = r->w.embed; break;
    case SL_T_LM_HEAD: dst = r->w.lm_head; break;
    case SL_T_FINAL_NORM: dst = r->w.final_norm; break;
    case SL_T_ATTN_NORM: dst = L->attn_norm; break;
    case SL_T_MLP_NORM: dst = L->mlp_norm; break;
    case SL_T_Q_NORM: dst = L->q_norm; break;
    case SL_T_K_NORM: dst = L->k_norm; break;
    case SL_T_Q: dst = L->w_qkv; break;
    case SL_T_K: dst = L->w_qkv + q_rows * h; break;
    case SL_T_V: dst = L->w_qkv + (q_rows + kv_rows) * h; break;
    case SL_T_O: dst = L->w_o; break;
    case SL_T_GATE: dst = L->w_gu; break;
    case SL_T_UP: dst = L->w_gu + inter * h; break;
    case SL_T_DOWN: dst = L->w_down; break;
    case SL_T_Q_BIAS: dst = L->b_qkv, f32 = 1; break;
    case SL_T_K_BIAS: dst = L->b_qkv + q_rows, f32 = 1; break;
    case SL_T_V_BIAS: dst = L->b_qkv + q_rows + kv_rows, f32 = 1; break;
    case SL_T_O_BIAS: dst = L->b_o, f32 = 1; break;
    case SL_T_GATE_BIAS: dst = L->b_gu, f32 = 1; break;
    case SL_T_UP_BIAS: dst = L->b_gu + inter, f32 = 1; break;
    case SL_T_DOWN_BIAS: dst = L->b_down, f32 = 1; break;
    }
    *dst_p = dst;
    *f32_p = f32;
}

/* The host view of SPEC's shard on rank weights RW (NULL for vectors). */
static const sl_weight_t *sl_cuda_src_matrix(const sl_rank_weights_t *rw,
                                             const sl_tensor_spec_t *spec)
{
    const sl_layer_weights_t *l = spec->layer >= 0 ? &rw->layers[spec->layer] : NULL;

    switch (spec->role) {
    case SL_T_EMBED: return &rw->embed;
    case SL_T_LM_HEAD: return &rw->lm_head;
    case SL_T_Q: return &l->wq;
    case SL_T_K: return &l->wk;
    case SL_T_V: return &l->wv;
    case SL_T_O: return &l->wo;
    case SL_T_GATE: return &l->w_gate;
    case SL_T_UP: return &l->w_up;
    case SL_T_DOWN: return &l->w_down;
    default: return NULL;
    }
}

static const float *sl_cuda_src_vector(const sl_rank_weights_t *rw, const sl_tensor_spec_t *spec)
{
    const sl_layer_weights_t *l = spec->layer >= 0 ? &rw->layers[spec->layer] : NULL;

    switch (spec->role) {
    case SL_T_FINAL_NORM: return rw->final_norm;
    case SL_T_ATTN_NORM: return l->attn_norm;
    case SL_T_MLP_NORM: return l->mlp_norm;
    case SL_T_Q_NORM: return l->q_norm;
    case SL_T_K_NORM: return l->k_norm;
    case SL_T_Q_BIAS: return l->bq;
    case SL_T_K_BIAS: return l->bk;
    case SL_T_V_BIAS: return l->bv;
    case SL_T_O_BIAS: return l->bo;
    case SL_T_GATE_BIAS: return l->b_gate;
    case SL_T_UP_BIAS: return l->b_up;
    case SL_T_DOWN_BIAS: return l->b_down;
    default: return NULL;
    }
}

/* ---- staging ---------------------------------------------------------------- */

static sl_status_t sl_stage_init(sl_stage_t *st)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < 2; i++) {
        SL_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&st->buf[i], SL_STAGE_BYTES, cudaHostAllocDefault));
        SL_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&st->ev[i], cudaEventDisableTiming));
    }
    return SL_OK;
}

static void sl_stage_free(sl_stage_t *st)
{
    for (int i = 0; i < 2; i++) {
        if (st->ev[i] != NULL)
            (void)cudaEventSynchronize(st->ev[i]), (void)cudaEventDestroy(st->ev[i]);
        if (st->buf[i] != NULL)
            (void)cudaFreeHost(st->buf[i]);
    }
}

/* The next free staging buffer (its previous copy finished). */
static sl_status_t sl_stage_take(sl_stage_t *st, void **buf_p, int *which_p)
{
    int b = st->next;
    SL_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(st->ev[b]));
    st->next ^= 1;
    *buf_p = st->buf[b];
    *which_p = b;
    return SL_OK;
}

static sl_status_t sl_stage_send(sl_cuda_rank_t *r, sl_stage_t *st, int which, void *dst,
                                 size_t bytes)
{
    SL_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst, st->buf[which], bytes, cudaMemcpyHostToDevice, r->stream));
    SL_CUDA_RETURN_IF_ERROR(cudaEventRecord(st->ev[which], r->stream));
    return SL_OK;
}

/* A matrix view (any compute dtype, strided) to bf16 rows at DST. */
static sl_status_t sl_stage_matrix(sl_cuda_rank_t *r, sl_stage_t *st, uint16_t *dst,
                                   const sl_weight_t *w)
{
    size_t cols = (size_t)w->cols, esize = sl_dtype_size(w->dtype);
    size_t per = SL_STAGE_BYTES / (cols * 2);
    float *tmp = NULL;

    if (per == 0) {
        sl_error("a weight row of %zu elements exceeds the staging buffer", cols);
        return SL_ERR_UNSUPPORTED;
    }
    if (w->dtype != SL_DTYPE_BF16 && (tmp = malloc(cols * sizeof(float))) == NULL) {
        sl_error("out of memory converting weights");
        return SL_ERR_NO_MEMORY;
    }
    for (size_t row0 = 0; row0 < (size_t)w->rows; row0 += per) {
        size_t n = (size_t)w->rows - row0 < per ? (size_t)w->rows - row0 : per;
        uint16_t *buf;
        int which;
        sl_status_t s = sl_stage_take(st, (void **)&buf, &which);
        for (size_t i = 0; s == SL_OK && i < n; i++) {
            const char *src = (const char *)w->data + (row0 + i) * (size_t)w->ld * esize;
            uint16_t *d = buf + i * cols; /* [cols] */
            if (w->dtype == SL_DTYPE_BF16) {
                memcpy(d, src, cols * 2);
            } else {
                sl_dtype_to_f32(tmp, src, w->dtype, cols);
                for (size_t k = 0; k < cols; k++)
                    d[k] = sl_float_to_bf16(tmp[k]);
            }
        }
        if (s == SL_OK)
            s = sl_stage_send(r, st, which, dst + row0 * cols, n * cols * 2);
        if (s != SL_OK) {
            free(tmp);
            return s;
        }
    }
    free(tmp);
    return SL_OK;
}

/* A float32 vector of N to DST as float32 (F32) or bf16. */
static sl_status_t sl_stage_vector(sl_cuda_rank_t *r, sl_stage_t *st, void *dst, const float *v,
                                   size_t n, int f32)
{
    void *buf;
    int which;

    if (n * 4 > SL_STAGE_BYTES) {
        sl_error("a weight vector of %zu elements exceeds the staging buffer", n);
        return SL_ERR_UNSUPPORTED;
    }
    SL_RETURN_IF(sl_stage_take(st, &buf, &which));
    if (f32) {
        memcpy(buf, v, n * 4);
    } else {
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)buf)[i] = sl_float_to_bf16(v[i]);
    }
    return sl_stage_send(r, st, which, dst, n * (f32 ? 4 : 2));
}

/* ---- dummy weights ---------------------------------------------------------- */

/* sl_model_random_value's key (src/model/model.c): splitmix64(seed ^ fnv1a(name)). */
static uint64_t sl_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t sl_dummy_key(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
    return sl_splitmix64(seed ^ h);
}

/* ---- loading ---------------------------------------------------------------- */

static sl_status_t sl_cuda_load_spec(sl_cuda_rank_t *r, sl_stage_t *st,
                                     const sl_tensor_spec_t *spec)
{
    const sl_cuda_backend_t *be = r->be;
    const sl_rank_weights_t *rw = &be->model->ranks[r->rank];
    sl_shard_t sh;
    void *dst;
    int f32;

    sl_model_shard(be->config, &rw->geometry, spec, &sh);
    sl_cuda_spec_dst(r, spec, &dst, &f32);
    if (dst == NULL) {
        sl_error("CUDA backend: tensor '%s' has no place on the GPU", spec->name);
        return SL_ERR_INTERNAL;
    }
    if (spec->ndim == 2) {
        if (be->opt.dummy_on_device) {
            int embed = spec->role == SL_T_EMBED;
            float denom = sqrtf((float)spec->shape[1]);
            return sl_cuda_random_fill_bf16(dst, sh.rows, sh.cols, sh.cols,
                                            sl_dummy_key(be->opt.seed, spec->name), embed,
                                            denom, sh.row_begin, sh.col_begin, spec->shape[1],
                                            r->stream);
        }
        const sl_weight_t *w = sl_cuda_src_matrix(rw, spec);
        if (w == NULL || w->data == NULL || w->rows != sh.rows || w->cols != sh.cols) {
            sl_error("CUDA backend: tensor '%s' of rank %d: no host view of [%lld, %lld]",
                     spec->name, r->rank, (long long)sh.rows, (long long)sh.cols);
            return SL_ERR_INTERNAL;
        }
        return sl_stage_matrix(r, st, dst, w);
    }
    if (be->opt.dummy_on_device) {
        /* Vectors are small: the host computes them as the dummy loader does
         * (the value rounded through bf16, the model's dtype). */
        float *v = malloc((size_t)sh.rows * sizeof(float));
        sl_status_t s;
        if (v == NULL) {
            sl_error("out of memory for tensor '%s'", spec->name);
            return SL_ERR_NO_MEMORY;
        }
        for (int64_t i = 0; i < sh.rows; i++)
            v[i] = sl_bf16_to_float(sl_float_to_bf16(
                sl_model_random_value(be->opt.seed, spec, (uint64_t)(sh.row_begin + i))));
        s = sl_stage_vector(r, st, dst, v, (size_t)sh.rows, f32);
        /* the staging buffer holds a copy: v may go */
        free(v);
        return s;
    }
    const float *v = sl_cuda_src_vector(rw, spec);
    if (v == NULL) {
        sl_error("CUDA backend: tensor '%s' of rank %d has no host data", spec->name, r->rank);
        return SL_ERR_INTERNAL;
    }
    return sl_stage_vector(r, st, dst, v, (size_t)sh.rows, f32);
}

sl_status_t sl_cuda_weights_load(sl_cuda_rank_t *r)
{
    const sl_cuda_backend_t *be = r->be;
    const sl_model_t *m = be->model;
    sl_stage_t st;
    size_t bytes;
    sl_status_t s;

    r->w.layers = calloc((size_t)be->config->num_layers, sizeof(*r->w.layers));
    if (r->w.layers == NULL) {
        sl_error("out of memory for the layer table");
        return SL_ERR_NO_MEMORY;
    }
    bytes = sl_cuda_weights_layout(r, 0);
    cudaError_t e = cudaMalloc(&r->w.base, bytes);
    if (e != cudaSuccess) {
        sl_error("rank %d: cudaMalloc of %.2f GB for the weights on GPU %d: %s", r->rank,
                 (double)bytes / 1e9, r->device, cudaGetErrorString(e));
        r->w.base = NULL;
        return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
    }
    r->w.bytes = bytes;
    (void)sl_cuda_weights_layout(r, (uintptr_t)r->w.base);

    if ((s = sl_stage_init(&st)) != SL_OK)
        goto out;
    for (size_t i = 0; i < m->num_specs; i++)
        if ((s = sl_cuda_load_spec(r, &st, &m->specs[i])) != SL_OK)
            goto out;
    /* The last copies read the staging buffers: wait before freeing them. */
    cudaError_t se = cudaStreamSynchronize(r->stream);
    if (se != cudaSuccess) {
        sl_error("rank %d: loading the weights to GPU %d: %s", r->rank, r->device,
                 cudaGetErrorString(se));
        s = SL_ERR_CUDA;
    }
out:
    sl_stage_free(&st);
    return s;
}

void sl_cuda_weights_free(sl_cuda_rank_t *r)
{
    if (r->w.base != NULL)
        (void)cudaFree(r->w.base);
    free(r->w.layers);
    memset(&r->w, 0, sizeof(r->w));
}
