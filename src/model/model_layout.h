/*
 * model_layout.h - which tensors a configuration needs, their HuggingFace
 * names and shapes, and how tensor parallelism splits each of them.
 *
 * Sharding (Megatron style, on HF's [out, in] weight layout):
 *   - column-parallel (rows of W split): q/k/v_proj, gate/up_proj and their
 *     biases; each rank gets whole heads. When TP exceeds the KV heads, KV
 *     heads are replicated: rank r holds KV head r / (tp / num_kv_heads).
 *   - row-parallel (columns of W split): o_proj, down_proj; their outputs are
 *     partial sums joined by an all-reduce; their biases are replicated and
 *     added once after it.
 *   - vocab-parallel (rows split by token id): embed_tokens and lm_head;
 *     ranks get ceil(vocab / tp) rows (the last ones fewer, possibly none), so
 *     any vocabulary size works with any TP.
 *   - replicated: RMSNorm weights, q_norm/k_norm.
 * Heads, KV heads and intermediate_size must divide evenly (or, for KV heads,
 * be divided by tp); sl_model_check_tp() says which does not.
 */
#ifndef SL_MODEL_MODEL_LAYOUT_H
#define SL_MODEL_MODEL_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/model_config.h"

typedef enum {
    SL_T_EMBED, SL_T_LM_HEAD, SL_T_FINAL_NORM,
    SL_T_ATTN_NORM, SL_T_MLP_NORM,
    SL_T_Q, SL_T_K, SL_T_V, SL_T_O,
    SL_T_Q_BIAS, SL_T_K_BIAS, SL_T_V_BIAS, SL_T_O_BIAS,
    SL_T_Q_NORM, SL_T_K_NORM,
    SL_T_GATE, SL_T_UP, SL_T_DOWN,
    SL_T_GATE_BIAS, SL_T_UP_BIAS, SL_T_DOWN_BIAS,
} sl_tensor_role_t;

typedef enum {
    SL_SHARD_REPLICATED,
    SL_SHARD_COLUMN,    /* rows split by heads or intermediate   */
    SL_SHARD_COLUMN_KV, /* rows split by KV heads (or replicated) */
    SL_SHARD_ROW,       /* columns split                          */
    SL_SHARD_VOCAB,     /* rows split by vocabulary range         */
} sl_shard_kind_t;

#define SL_TENSOR_NAME_MAX 96

typedef struct sl_tensor_spec {
    char name[SL_TENSOR_NAME_MAX]; /* HF name, e.g. "model.layers.3.mlp.up_proj.weight" */
    sl_tensor_role_t role;
    int layer;                     /* -1 for the global tensors */
    int ndim;                      /* 1 or 2 */
    int64_t shape[2];              /* full (unsharded) shape */
    sl_shard_kind_t shard;
} sl_tensor_spec_t;

/* What one TP rank holds. */
typedef struct sl_rank_geometry {
    int rank, tp;
    int64_t num_heads;        /* query heads of this rank          */
    int64_t num_kv_heads;     /* KV heads of this rank (>= 1)      */
    int64_t head_begin;       /* first query head                  */
    int64_t kv_head_begin;    /* first KV head                     */
    int64_t intermediate;     /* MLP columns of this rank          */
    int64_t vocab_begin, vocab_end; /* token ids [begin, end)      */
} sl_rank_geometry_t;

/* The part of a tensor a rank holds: rows [row_begin, +rows) and columns
 * [col_begin, +cols) of the full [shape[0], shape[1]] matrix (1-D tensors:
 * rows only, cols = 1). */
typedef struct sl_shard {
    int64_t row_begin, rows;
    int64_t col_begin, cols;
} sl_shard_t;

/* Every tensor CONFIG needs, in a fixed order (globals, then layer by layer).
 * The caller frees *specs_p with free(). */
sl_status_t sl_model_tensor_specs(const sl_model_config_t *config, sl_tensor_spec_t **specs_p,
                                  size_t *count_p);

/* SL_OK when CONFIG can be split TP ways; otherwise logs which shape does not
 * divide and returns SL_ERR_INVALID_ARG. */
sl_status_t sl_model_check_tp(const sl_model_config_t *config, int tp);

/* Rank RANK's geometry; sl_model_check_tp() must have passed. */
void sl_model_rank_geometry(const sl_model_config_t *config, int tp, int rank,
                            sl_rank_geometry_t *geometry);

/* The shard of SPEC that the rank of GEOMETRY holds. */
void sl_model_shard(const sl_model_config_t *config, const sl_rank_geometry_t *geometry,
                    const sl_tensor_spec_t *spec, sl_shard_t *shard);

/* Parameters of the whole model (tied embeddings counted once). */
int64_t sl_model_param_count(const sl_tensor_spec_t *specs, size_t count);

#endif /* SL_MODEL_MODEL_LAYOUT_H */
