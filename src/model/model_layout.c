/* model_layout.c - tensor names, shapes and TP shards; see model_layout.h. */
#include "config.h"

#include "model/model_layout.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

/* Per-layer tensors, in the order they are listed. */
static const struct {
    sl_tensor_role_t role;
    const char *suffix;
} sl_layer_tensors[] = {
    {SL_T_ATTN_NORM, "input_layernorm.weight"},
    {SL_T_Q, "self_attn.q_proj.weight"},
    {SL_T_Q_BIAS, "self_attn.q_proj.bias"},
    {SL_T_K, "self_attn.k_proj.weight"},
    {SL_T_K_BIAS, "self_attn.k_proj.bias"},
    {SL_T_V, "self_attn.v_proj.weight"},
    {SL_T_V_BIAS, "self_attn.v_proj.bias"},
    {SL_T_Q_NORM, "self_attn.q_norm.weight"},
    {SL_T_K_NORM, "self_attn.k_norm.weight"},
    {SL_T_O, "self_attn.o_proj.weight"},
    {SL_T_O_BIAS, "self_attn.o_proj.bias"},
    {SL_T_MLP_NORM, "post_attention_layernorm.weight"},
    {SL_T_GATE, "mlp.gate_proj.weight"},
    {SL_T_GATE_BIAS, "mlp.gate_proj.bias"},
    {SL_T_UP, "mlp.up_proj.weight"},
    {SL_T_UP_BIAS, "mlp.up_proj.bias"},
    {SL_T_DOWN, "mlp.down_proj.weight"},
    {SL_T_DOWN_BIAS, "mlp.down_proj.bias"},
};
#define SL_LAYER_TENSORS (sizeof(sl_layer_tensors) / sizeof(sl_layer_tensors[0]))

/* Whether CONFIG has tensors of ROLE; fills their shape and sharding. */
static int sl_role_spec(const sl_model_config_t *c, sl_tensor_role_t role, sl_tensor_spec_t *s)
{
    int64_t h = c->hidden_size, q = c->num_heads * c->head_dim;
    int64_t kv = c->num_kv_heads * c->head_dim, inter = c->intermediate_size;

#define SL_SPEC(present, nd, d0, d1, kind) \
    do {                                   \
        s->ndim = (nd);                    \
        s->shape[0] = (d0);                \
        s->shape[1] = (d1);                \
        s->shard = (kind);                 \
        return (present);                  \
    } while (0)

    switch (role) {
    case SL_T_EMBED: SL_SPEC(1, 2, c->vocab_size, h, SL_SHARD_VOCAB);
    case SL_T_LM_HEAD: SL_SPEC(!c->tie_word_embeddings, 2, c->vocab_size, h, SL_SHARD_VOCAB);
    case SL_T_FINAL_NORM:
    case SL_T_ATTN_NORM:
    case SL_T_MLP_NORM: SL_SPEC(1, 1, h, 1, SL_SHARD_REPLICATED);
    case SL_T_Q: SL_SPEC(1, 2, q, h, SL_SHARD_COLUMN);
    case SL_T_K:
    case SL_T_V: SL_SPEC(1, 2, kv, h, SL_SHARD_COLUMN_KV);
    case SL_T_O: SL_SPEC(1, 2, h, q, SL_SHARD_ROW);
    case SL_T_Q_BIAS: SL_SPEC(c->qkv_bias, 1, q, 1, SL_SHARD_COLUMN);
    case SL_T_K_BIAS:
    case SL_T_V_BIAS: SL_SPEC(c->qkv_bias, 1, kv, 1, SL_SHARD_COLUMN_KV);
    case SL_T_O_BIAS: SL_SPEC(c->o_bias, 1, h, 1, SL_SHARD_REPLICATED);
    case SL_T_Q_NORM:
    case SL_T_K_NORM: SL_SPEC(c->qk_norm, 1, c->head_dim, 1, SL_SHARD_REPLICATED);
    case SL_T_GATE:
    case SL_T_UP: SL_SPEC(1, 2, inter, h, SL_SHARD_COLUMN);
    case SL_T_DOWN: SL_SPEC(1, 2, h, inter, SL_SHARD_ROW);
    case SL_T_GATE_BIAS:
    case SL_T_UP_BIAS: SL_SPEC(c->mlp_bias, 1, inter, 1, SL_SHARD_COLUMN);
    case SL_T_DOWN_BIAS: SL_SPEC(c->mlp_bias, 1, h, 1, SL_SHARD_REPLICATED);
    }
#undef SL_SPEC
    return 0;
}

sl_status_t sl_model_tensor_specs(const sl_model_config_t *config, sl_tensor_spec_t **specs_p,
                                  size_t *count_p)
{
    /* num_layers <= 4096 (config limits), so this cannot overflow. */
    size_t cap = 3 + (size_t)config->num_layers * SL_LAYER_TENSORS, n = 0;
    sl_tensor_spec_t *specs = calloc(cap, sizeof(*specs));
    static const struct {
        sl_tensor_role_t role;
        const char *name;
    } globals[] = {
        {SL_T_EMBED, "model.embed_tokens.weight"},
        {SL_T_FINAL_NORM, "model.norm.weight"},
        {SL_T_LM_HEAD, "lm_head.weight"},
    };

    if (specs == NULL) {
        sl_error("out of memory listing %zu tensors", cap);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
        sl_tensor_spec_t *s = &specs[n];
        s->role = globals[i].role;
        s->layer = -1;
        snprintf(s->name, sizeof(s->name), "%s", globals[i].name);
        n += (size_t)sl_role_spec(config, s->role, s);
    }
    for (int64_t l = 0; l < config->num_layers; l++) {
        for (size_t i = 0; i < SL_LAYER_TENSORS; i++) {
            sl_tensor_spec_t *s = &specs[n];
            s->role = sl_layer_tensors[i].role;
            s->layer = (int)l;
            snprintf(s->name, sizeof(s->name), "model.layers.%lld.%s", (long long)l,
                     sl_layer_tensors[i].suffix);
            n += (size_t)sl_role_spec(config, s->role, s);
        }
    }
    *specs_p = specs;
    *count_p = n;
    return SL_OK;
}

sl_status_t sl_model_check_tp(const sl_model_config_t *c, int tp)
{
    if (tp < 1 || tp > 4096) {
        sl_error("--tp %d: must be between 1 and 4096", tp);
        return SL_ERR_INVALID_ARG;
    }
    if (c->num_heads % tp != 0) {
        sl_error("--tp %d does not divide num_attention_heads %lld of %s", tp,
                 (long long)c->num_heads, c->arch_name);
        return SL_ERR_INVALID_ARG;
    }
    if (c->num_kv_heads % tp != 0 && tp % c->num_kv_heads != 0) {
        sl_error("--tp %d and num_key_value_heads %lld of %s: neither divides the other", tp,
                 (long long)c->num_kv_heads, c->arch_name);
        return SL_ERR_INVALID_ARG;
    }
    if (c->intermediate_size % tp != 0) {
        sl_error("--tp %d does not divide intermediate_size %lld of %s", tp,
                 (long long)c->intermediate_size, c->arch_name);
        return SL_ERR_INVALID_ARG;
    }
    return SL_OK;
}

void sl_model_rank_geometry(const sl_model_config_t *c, int tp, int rank, sl_rank_geometry_t *g)
{
    int64_t per_vocab = (c->vocab_size + tp - 1) / tp;

    g->rank = rank;
    g->tp = tp;
    g->num_heads = c->num_heads / tp;
    g->head_begin = (int64_t)rank * g->num_heads;
    if (c->num_kv_heads >= tp) {
        g->num_kv_heads = c->num_kv_heads / tp;
        g->kv_head_begin = (int64_t)rank * g->num_kv_heads;
    } else {
        g->num_kv_heads = 1;
        g->kv_head_begin = rank / (tp / c->num_kv_heads);
    }
    g->intermediate = c->intermediate_size / tp;
    g->vocab_begin = per_vocab * rank < c->vocab_size ? per_vocab * rank : c->vocab_size;
    g->vocab_end = g->vocab_begin + per_vocab < c->vocab_size ? g->vocab_begin + per_vocab
                                                               : c->vocab_size;
}

void sl_model_shard(const sl_model_config_t *c, const sl_rank_geometry_t *g,
                    const sl_tensor_spec_t *s, sl_shard_t *sh)
{
    int64_t per_row; /* rows of one head or of one rank's share */

    sh->row_begin = 0;
    sh->rows = s->shape[0];
    sh->col_begin = 0;
    sh->cols = s->ndim == 2 ? s->shape[1] : 1;
    switch (s->shard) {
    case SL_SHARD_REPLICATED:
        break;
    case SL_SHARD_COLUMN:
        per_row = s->shape[0] / g->tp;
        sh->row_begin = per_row * g->rank;
        sh->rows = per_row;
        break;
    case SL_SHARD_COLUMN_KV:
        sh->row_begin = g->kv_head_begin * c->head_dim;
        sh->rows = g->num_kv_heads * c->head_dim;
        break;
    case SL_SHARD_ROW:
        per_row = s->shape[1] / g->tp;
        sh->col_begin = per_row * g->rank;
        sh->cols = per_row;
        break;
    case SL_SHARD_VOCAB:
        sh->row_begin = g->vocab_begin;
        sh->rows = g->vocab_end - g->vocab_begin;
        break;
    }
}

int64_t sl_model_param_count(const sl_tensor_spec_t *specs, size_t count)
{
    int64_t n = 0;
    for (size_t i = 0; i < count; i++)
        n += specs[i].shape[0] * (specs[i].ndim == 2 ? specs[i].shape[1] : 1);
    return n;
}
