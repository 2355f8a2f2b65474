/*
 * model.h - a loaded model: its configuration and, for each tensor-parallel
 * rank, views of the weights that rank holds.
 *
 * Loading validates everything before anything is used: config.json
 * (model_config.h), every safetensors file (safetensors.h), that each tensor
 * the architecture needs is present with its exact shape and a dtype the
 * backends compute from (BF16, F16, F32; F8 is refused as "not supported
 * yet"), and that no tensor is left over (an unexpected tensor is an error
 * naming it: it means the checkpoint is not the architecture we think).
 *
 * Weights stay where they are: a rank's matrix is a view into the mapped file
 * (rows [r0, r1) of a column-parallel weight are contiguous; the columns of a
 * row-parallel weight are a strided view), so a rank touches only the bytes
 * of its shard. 1-D tensors (norms, biases) are converted to float32 copies.
 * With --load-format dummy the weights are seeded random values (never zero)
 * computed from config.json alone, identical to those sl_model_write_random()
 * writes, and each rank generates only its shard.
 */
#ifndef SL_MODEL_MODEL_H
#define SL_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/dtype.h"
#include "model/model_config.h"
#include "model/model_layout.h"

/* A matrix of stored elements: [rows, cols], row r at data + r * ld elements. */
typedef struct sl_weight {
    sl_dtype_t dtype;
    int64_t rows, cols;
    int64_t ld;
    const void *data;
} sl_weight_t;

typedef struct sl_layer_weights {
    const float *attn_norm;   /* [hidden] */
    const float *mlp_norm;    /* [hidden] */
    const float *q_norm;      /* [head_dim] or NULL */
    const float *k_norm;      /* [head_dim] or NULL */
    sl_weight_t wq;           /* [heads * head_dim, hidden] */
    sl_weight_t wk, wv;       /* [kv_heads * head_dim, hidden] */
    sl_weight_t wo;           /* [hidden, heads * head_dim] */
    const float *bq;          /* [heads * head_dim] or NULL */
    const float *bk, *bv;     /* [kv_heads * head_dim] or NULL */
    const float *bo;          /* [hidden] or NULL, added after the all-reduce */
    sl_weight_t w_gate, w_up; /* [intermediate, hidden] */
    sl_weight_t w_down;       /* [hidden, intermediate] */
    const float *b_gate, *b_up; /* [intermediate] or NULL */
    const float *b_down;      /* [hidden] or NULL, added after the all-reduce */
    int64_t window;           /* sliding window in positions; 0: full attention */
} sl_layer_weights_t;

/* Shapes in comments are this rank's: heads = geometry.num_heads, ... */
typedef struct sl_rank_weights {
    sl_rank_geometry_t geometry;
    sl_weight_t embed;        /* [vocab_end - vocab_begin, hidden] */
    sl_weight_t lm_head;      /* [vocab_end - vocab_begin, hidden] (= embed when tied) */
    const float *final_norm;  /* [hidden] */
    sl_layer_weights_t *layers; /* [num_layers] */
    uint64_t bytes;           /* weight bytes this rank reads */
} sl_rank_weights_t;

typedef enum {
    SL_LOAD_SAFETENSORS, /* "auto", "safetensors" */
    SL_LOAD_DUMMY,       /* "dummy" */
} sl_load_format_t;

typedef struct sl_model_options {
    int tp;                       /* ranks, >= 1 */
    sl_load_format_t load_format;
    uint64_t seed;                /* for SL_LOAD_DUMMY */
    bool geometry_only;           /* with SL_LOAD_DUMMY: configuration, tensor list
                                     and rank geometry, no weights (every view NULL),
                                     for a backend that makes them itself (CUDA)  */
} sl_model_options_t;

/* tp 1, safetensors, seed 0. */
void sl_model_options_init(sl_model_options_t *options);

/* "auto"/"safetensors" or "dummy"; SL_ERR_INVALID_ARG otherwise (not logged). */
sl_status_t sl_load_format_parse(const char *text, sl_load_format_t *format_p);

typedef struct sl_model_storage sl_model_storage_t; /* private */

typedef struct sl_model {
    char *dir;
    sl_model_config_t *config;
    int tp;
    sl_rank_weights_t *ranks;    /* [tp] */
    sl_tensor_spec_t *specs;     /* [num_specs] every tensor of the model */
    size_t num_specs;
    sl_dtype_t dtype;            /* the checkpoint's main dtype */
    sl_model_storage_t *storage; /* mappings and buffers behind the views */
} sl_model_t;

/* Loads DIR for OPTIONS->tp ranks. Freed with sl_model_free(). */
sl_status_t sl_model_load(const char *dir, const sl_model_options_t *options,
                          sl_model_t **model_p);

void sl_model_free(sl_model_t *model);

/* Bytes of KV cache one token takes on one rank, for elements of ELEM_BYTES
 * (2 for the bf16 cache of the GPU, 4 for the CPU backend). */
uint64_t sl_model_kv_bytes_per_token(const sl_model_t *model, size_t elem_bytes);

/* The value sl_model_write_random() and --load-format dummy give element
 * INDEX (row-major, of the full tensor) of SPEC, before rounding to the
 * stored dtype: uniform, never zero; norms near 1. */
float sl_model_random_value(uint64_t seed, const sl_tensor_spec_t *spec, uint64_t index);

/* Fills DST ([numel of SPEC] elements of DTYPE: BF16, F16 or F32) with the
 * whole tensor's random values. */
void sl_model_random_fill(uint64_t seed, const sl_tensor_spec_t *spec, sl_dtype_t dtype,
                          void *dst);

/*
 * Writes a HuggingFace model folder DIR (created if missing): CONFIG_JSON as
 * config.json and every tensor it implies with random values of SEED, stored
 * as DTYPE, in one model.safetensors or, with NUM_SHARDS > 1, in that many
 * model-0000K-of-0000N.safetensors files plus model.safetensors.index.json.
 * Loading it gives the same weights as --load-format dummy with SEED when
 * DTYPE is the config's dtype. For tests and benchmarks of real shapes.
 */
sl_status_t sl_model_write_random(const char *dir, const char *config_json, uint64_t seed,
                                  sl_dtype_t dtype, int num_shards);

#endif /* SL_MODEL_MODEL_H */
