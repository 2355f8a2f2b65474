/* model.c - loading a model folder into per-rank weight views; see model.h. */
#include "config.h"

#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/log.h"
#include "model/checkpoint.h"

struct sl_model_storage {
    sl_checkpoint_t *checkpoint; /* NULL with --load-format dummy */
    void **blocks;               /* [num_blocks] buffers we allocated */
    size_t num_blocks, cap_blocks;
};

void sl_model_options_init(sl_model_options_t *options)
{
    memset(options, 0, sizeof(*options));
    options->tp = 1;
    options->load_format = SL_LOAD_SAFETENSORS;
}

sl_status_t sl_load_format_parse(const char *text, sl_load_format_t *format_p)
{
    if (strcmp(text, "auto") == 0 || strcmp(text, "safetensors") == 0) {
        *format_p = SL_LOAD_SAFETENSORS;
        return SL_OK;
    }
    if (strcmp(text, "dummy") == 0) {
        *format_p = SL_LOAD_DUMMY;
        return SL_OK;
    }
    return SL_ERR_INVALID_ARG;
}

/* A buffer owned by the model, freed with it. */
static void *sl_model_alloc(sl_model_t *m, size_t bytes)
{
    sl_model_storage_t *st = m->storage;
    void *p;

    if (st->num_blocks == st->cap_blocks) {
        size_t cap = st->cap_blocks ? 2 * st->cap_blocks : 64;
        void **blocks = realloc(st->blocks, cap * sizeof(*blocks));
        if (blocks == NULL)
            return NULL;
        st->blocks = blocks;
        st->cap_blocks = cap;
    }
    p = malloc(bytes ? bytes : 1);
    if (p != NULL)
        st->blocks[st->num_blocks++] = p;
    return p;
}

/* ---- random weights ---------------------------------------------------------- */

static uint64_t sl_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t sl_name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
    return h;
}

float sl_model_random_value(uint64_t seed, const sl_tensor_spec_t *spec, uint64_t index)
{
    uint64_t r = sl_splitmix64(sl_splitmix64(seed ^ sl_name_hash(spec->name)) + index);
    float u = (float)(r >> 40) * 0x1p-24f; /* [0, 1) */
    float sign = (r & 1u) ? -1.0f : 1.0f;
    float mag = 0.1f + 0.9f * u;           /* never zero */

    switch (spec->role) {
    case SL_T_FINAL_NORM:
    case SL_T_ATTN_NORM:
    case SL_T_MLP_NORM:
    case SL_T_Q_NORM:
    case SL_T_K_NORM:
        return 0.9f + 0.2f * u;
    case SL_T_Q_BIAS:
    case SL_T_K_BIAS:
    case SL_T_V_BIAS:
    case SL_T_O_BIAS:
    case SL_T_GATE_BIAS:
    case SL_T_UP_BIAS:
    case SL_T_DOWN_BIAS:
        return sign * mag * 0.1f;
    case SL_T_EMBED:
        return sign * mag;
    default:
        /* Uniform with variance ~1/in: activations keep their scale. */
        return sign * mag * 1.7f / sqrtf((float)spec->shape[1]);
    }
}

/* Stores V as DTYPE at DST[I]. */
static void sl_store_elem(void *dst, sl_dtype_t dtype, size_t i, float v)
{
    if (dtype == SL_DTYPE_BF16) {
        uint16_t h = sl_float_to_bf16(v);
        memcpy((char *)dst + 2 * i, &h, 2);
    } else if (dtype == SL_DTYPE_F16) {
        uint16_t h = sl_float_to_f16(v);
        memcpy((char *)dst + 2 * i, &h, 2);
    } else {
        memcpy((char *)dst + 4 * i, &v, 4);
    }
}

/* Fills DST ([sh.rows, sh.cols] elements of DTYPE) with SPEC's random values
 * for the shard SH. */
static void sl_fill_random(void *dst, sl_dtype_t dtype, uint64_t seed,
                           const sl_tensor_spec_t *spec, const sl_shard_t *sh)
{
    int64_t full_cols = spec->ndim == 2 ? spec->shape[1] : 1;
    for (int64_t r = 0; r < sh->rows; r++)
        for (int64_t c = 0; c < sh->cols; c++)
            sl_store_elem(dst, dtype, (size_t)(r * sh->cols + c),
                          sl_model_random_value(
                              seed, spec,
                              (uint64_t)((sh->row_begin + r) * full_cols + sh->col_begin + c)));
}

void sl_model_random_fill(uint64_t seed, const sl_tensor_spec_t *spec, sl_dtype_t dtype,
                          void *dst)
{
    sl_shard_t all = {0, spec->shape[0], 0, spec->ndim == 2 ? spec->shape[1] : 1};
    sl_fill_random(dst, dtype, seed, spec, &all);
}

/* ---- placing one tensor's shard in a rank --------------------------------------- */

static void sl_place_vector(sl_rank_weights_t *rw, const sl_tensor_spec_t *spec, const float *v)
{
    sl_layer_weights_t *l = spec->layer >= 0 ? &rw->layers[spec->layer] : NULL;

    switch (spec->role) {
    case SL_T_FINAL_NORM: rw->final_norm = v; break;
    case SL_T_ATTN_NORM: l->attn_norm = v; break;
    case SL_T_MLP_NORM: l->mlp_norm = v; break;
    case SL_T_Q_NORM: l->q_norm = v; break;
    case SL_T_K_NORM: l->k_norm = v; break;
    case SL_T_Q_BIAS: l->bq = v; break;
    case SL_T_K_BIAS: l->bk = v; break;
    case SL_T_V_BIAS: l->bv = v; break;
    case SL_T_O_BIAS: l->bo = v; break;
    case SL_T_GATE_BIAS: l->b_gate = v; break;
    case SL_T_UP_BIAS: l->b_up = v; break;
    case SL_T_DOWN_BIAS: l->b_down = v; break;
    default: break;
    }
}

static void sl_place_matrix(sl_rank_weights_t *rw, const sl_tensor_spec_t *spec,
                            const sl_weight_t *w)
{
    sl_layer_weights_t *l = spec->layer >= 0 ? &rw->layers[spec->layer] : NULL;

    switch (spec->role) {
    case SL_T_EMBED: rw->embed = *w; break;
    case SL_T_LM_HEAD: rw->lm_head = *w; break;
    case SL_T_Q: l->wq = *w; break;
    case SL_T_K: l->wk = *w; break;
    case SL_T_V: l->wv = *w; break;
    case SL_T_O: l->wo = *w; break;
    case SL_T_GATE: l->w_gate = *w; break;
    case SL_T_UP: l->w_up = *w; break;
    case SL_T_DOWN: l->w_down = *w; break;
    default: break;
    }
}

/* Checks that the checkpoint tensor T (in file F) can back SPEC. */
static sl_status_t sl_check_tensor(const sl_st_file_t *f, const sl_st_tensor_t *t,
                                   const sl_tensor_spec_t *spec)
{
    char got[160], want[160];
    uint64_t shape[2] = {(uint64_t)spec->shape[0], (uint64_t)spec->shape[1]};

    if (t->dtype == SL_DTYPE_F8_E4M3 || t->dtype == SL_DTYPE_F8_E5M2) {
        sl_error("%s: tensor '%s': dtype %s is not supported yet (FP8 checkpoints need "
                 "their scales; use a BF16 checkpoint)",
                 f->path, t->name, sl_dtype_name(t->dtype));
        return SL_ERR_UNSUPPORTED;
    }
    if (!sl_dtype_is_compute(t->dtype)) {
        sl_error("%s: tensor '%s': dtype %s is not a weight dtype (BF16, F16 or F32)", f->path,
                 t->name, sl_dtype_name(t->dtype));
        return SL_ERR_UNSUPPORTED;
    }
    if (t->ndim != spec->ndim || t->shape[0] != shape[0] ||
        (spec->ndim == 2 && t->shape[1] != shape[1])) {
        sl_error("%s: tensor '%s': shape %s, but config.json implies %s", f->path, t->name,
                 sl_st_shape_string(t->shape, t->ndim, got, sizeof(got)),
                 sl_st_shape_string(shape, spec->ndim, want, sizeof(want)));
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

/* Makes SPEC's shard available to every rank, from SRC (a checkpoint tensor
 * of DTYPE) or, when SRC is NULL, from random values. */
static sl_status_t sl_load_spec(sl_model_t *m, const sl_tensor_spec_t *spec, const void *src,
                                sl_dtype_t dtype, uint64_t seed)
{
    size_t esize = sl_dtype_size(dtype);
    const float *shared = NULL; /* replicated vectors: one copy for all ranks */

    for (int r = 0; r < m->tp; r++) {
        sl_rank_weights_t *rw = &m->ranks[r];
        sl_shard_t sh;

        sl_model_shard(m->config, &rw->geometry, spec, &sh);
        rw->bytes += (uint64_t)(sh.rows * sh.cols) * esize;
        if (spec->ndim == 1) {
            float *v;
            if (shared != NULL && spec->shard == SL_SHARD_REPLICATED) {
                sl_place_vector(rw, spec, shared);
                continue;
            }
            v = sl_model_alloc(m, (size_t)sh.rows * sizeof(float));
            if (v == NULL)
                goto nomem;
            if (src != NULL) {
                sl_dtype_to_f32(v, (const char *)src + (size_t)sh.row_begin * esize, dtype,
                                (size_t)sh.rows);
            } else {
                /* Round through the dtype, as a written checkpoint would. */
                for (int64_t i = 0; i < sh.rows; i++) {
                    unsigned char elem[4];
                    sl_store_elem(elem, dtype, 0,
                                  sl_model_random_value(seed, spec, (uint64_t)(sh.row_begin + i)));
                    sl_dtype_to_f32(&v[i], elem, dtype, 1);
                }
            }
            shared = v;
            sl_place_vector(rw, spec, v);
        } else {
            sl_weight_t w = {.dtype = dtype, .rows = sh.rows, .cols = sh.cols};
            if (src != NULL) {
                w.ld = spec->shape[1];
                w.data = (const char *)src + (size_t)(sh.row_begin * spec->shape[1] +
                                                      sh.col_begin) * esize;
            } else {
                void *buf = sl_model_alloc(m, (size_t)(sh.rows * sh.cols) * esize);
                if (buf == NULL)
                    goto nomem;
                sl_fill_random(buf, dtype, seed, spec, &sh);
                w.ld = sh.cols;
                w.data = buf;
            }
            sl_place_matrix(rw, spec, &w);
        }
    }
    return SL_OK;
nomem:
    sl_error("%s: out of memory for tensor '%s'", m->dir, spec->name);
    return SL_ERR_NO_MEMORY;
}

/* Tensors that some checkpoints carry and the model does not use. */
static void sl_ignore_known_extras(sl_model_t *m, sl_checkpoint_t *ck)
{
    static const char inv_freq[] = ".rotary_emb.inv_freq";

    for (size_t i = 0; i < ck->num_files; i++) {
        for (size_t t = 0; t < ck->files[i]->num_tensors; t++) {
            const char *name = ck->files[i]->tensors[t].name;
            size_t len = strlen(name);
            if (len >= sizeof(inv_freq) - 1 &&
                strcmp(name + len - (sizeof(inv_freq) - 1), inv_freq) == 0)
                ck->used[i][t] = 1;
        }
    }
    /* Tied models sometimes save lm_head.weight too; transformers ties it to
     * embed_tokens, so it is not read. */
    if (m->config->tie_word_embeddings)
        sl_checkpoint_ignore(ck, "lm_head.weight");
}

static sl_status_t sl_model_load_weights(sl_model_t *m, const sl_model_options_t *opt)
{
    sl_checkpoint_t *ck = m->storage->checkpoint;
    sl_status_t s;

    for (size_t i = 0; i < m->num_specs; i++) {
        const sl_tensor_spec_t *spec = &m->specs[i];
        const sl_st_file_t *f;
        const sl_st_tensor_t *t;

        if (ck == NULL) {
            s = sl_load_spec(m, spec, NULL, m->config->dtype, opt->seed);
        } else {
            if (sl_checkpoint_find(ck, spec->name, &f, &t) != SL_OK) {
                sl_error("%s: missing tensor '%s' (%s with this config.json needs it)", m->dir,
                         spec->name, m->config->arch_name);
                return SL_ERR_NOT_FOUND;
            }
            if ((s = sl_check_tensor(f, t, spec)) != SL_OK)
                return s;
            s = sl_load_spec(m, spec, sl_st_tensor_data(f, t), t->dtype, 0);
        }
        if (s != SL_OK)
            return s;
    }
    if (ck != NULL) {
        sl_ignore_known_extras(m, ck);
        if ((s = sl_checkpoint_check_unused(ck)) != SL_OK)
            return s;
    }
    for (int r = 0; r < m->tp; r++)
        if (m->config->tie_word_embeddings)
            m->ranks[r].lm_head = m->ranks[r].embed;
    return SL_OK;
}

sl_status_t sl_model_load(const char *dir, const sl_model_options_t *opt, sl_model_t **model_p)
{
    sl_model_t *m = calloc(1, sizeof(*m));
    sl_status_t s;

    if (m == NULL || (m->storage = calloc(1, sizeof(*m->storage))) == NULL ||
        (m->dir = strdup(dir)) == NULL) {
        sl_error("%s: out of memory", dir);
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    if ((s = sl_model_config_load(dir, &m->config)) != SL_OK ||
        (s = sl_model_check_tp(m->config, opt->tp)) != SL_OK ||
        (s = sl_model_tensor_specs(m->config, &m->specs, &m->num_specs)) != SL_OK)
        goto err;
    m->tp = opt->tp;
    m->dtype = m->config->dtype;
    if (opt->load_format == SL_LOAD_SAFETENSORS) {
        if ((s = sl_checkpoint_open(dir, &m->storage->checkpoint)) != SL_OK)
            goto err;
        m->dtype = sl_checkpoint_main_dtype(m->storage->checkpoint);
    }
    m->ranks = calloc((size_t)m->tp, sizeof(*m->ranks));
    if (m->ranks == NULL)
        goto nomem;
    for (int r = 0; r < m->tp; r++) {
        sl_rank_weights_t *rw = &m->ranks[r];
        sl_model_rank_geometry(m->config, m->tp, r, &rw->geometry);
        rw->layers = calloc((size_t)m->config->num_layers, sizeof(*rw->layers));
        if (rw->layers == NULL)
            goto nomem;
        for (int64_t l = 0; l < m->config->num_layers; l++)
            rw->layers[l].window = m->config->layer_sliding != NULL &&
                                           m->config->layer_sliding[l]
                                       ? m->config->sliding_window
                                       : 0;
    }
    if (opt->geometry_only && opt->load_format != SL_LOAD_DUMMY) {
        sl_error("%s: only dummy weights can be left to the backend", dir);
        s = SL_ERR_INVALID_ARG;
        goto err;
    }
    if (!opt->geometry_only && (s = sl_model_load_weights(m, opt)) != SL_OK)
        goto err;
    *model_p = m;
    return SL_OK;
nomem:
    sl_error("%s: out of memory", dir);
    s = SL_ERR_NO_MEMORY;
err:
    sl_model_free(m);
    return s;
}

void sl_model_free(sl_model_t *m)
{
    if (m == NULL)
        return;
    if (m->storage != NULL) {
        for (size_t i = 0; i < m->storage->num_blocks; i++)
            free(m->storage->blocks[i]);
        free(m->storage->blocks);
        sl_checkpoint_close(m->storage->checkpoint);
        free(m->storage);
    }
    if (m->ranks != NULL)
        for (int r = 0; r < m->tp; r++)
            free(m->ranks[r].layers);
    free(m->ranks);
    free(m->specs);
    sl_model_config_free(m->config);
    free(m->dir);
    free(m);
}

uint64_t sl_model_kv_bytes_per_token(const sl_model_t *m, size_t elem_bytes)
{
    return 2u * (uint64_t)m->config->num_layers * (uint64_t)m->ranks[0].geometry.num_kv_heads *
           (uint64_t)m->config->head_dim * elem_bytes;
}
