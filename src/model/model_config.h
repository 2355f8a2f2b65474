/*
 * model_config.h - the parts of a HuggingFace config.json that define the
 * computation, resolved to one spelling.
 *
 * Real checkpoints spell RoPE two ways: "rope_theta" + "rope_scaling" (most
 * published models, transformers 4) and "rope_parameters" (transformers 5);
 * both give the same sl_rope_config_t, with every default resolved the way
 * transformers 5 resolves it (e.g. YaRN's attention factor from mscale).
 */
#ifndef SL_MODEL_MODEL_CONFIG_H
#define SL_MODEL_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/dtype.h"

typedef enum {
    SL_ARCH_LLAMA,   /* LlamaForCausalLM   */
    SL_ARCH_MISTRAL, /* MistralForCausalLM */
    SL_ARCH_QWEN2,   /* Qwen2ForCausalLM: q/k/v bias */
    SL_ARCH_QWEN3,   /* Qwen3ForCausalLM: per-head q/k RMSNorm, explicit head_dim */
} sl_arch_t;

/* "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM" */
extern const char sl_model_supported_archs[];

typedef enum {
    SL_ROPE_DEFAULT,
    SL_ROPE_LINEAR,
    SL_ROPE_LLAMA3,
    SL_ROPE_YARN,
} sl_rope_type_t;

const char *sl_rope_type_name(sl_rope_type_t type);

typedef struct sl_rope_config {
    sl_rope_type_t type;
    int rotary_dim;              /* = head_dim (partial rotary is refused)   */
    double theta;                /* base                                      */
    double factor;               /* linear, llama3, yarn                      */
    double low_freq_factor;      /* llama3                                    */
    double high_freq_factor;     /* llama3                                    */
    double original_max_position; /* llama3, yarn: pre-extension context     */
    double beta_fast, beta_slow; /* yarn                                      */
    int truncate;                /* yarn: floor/ceil the correction range     */
    double attention_factor;     /* scales cos and sin (yarn); 1 otherwise    */
    /* transformers keeps inv_freq as a buffer of the model, so a bf16 model
     * rotates by bf16-rounded frequencies (even when later cast to float64,
     * as the goldens are): we round to the same dtype, the config's. */
    sl_dtype_t inv_freq_dtype;
} sl_rope_config_t;

typedef struct sl_model_config {
    sl_arch_t arch;
    const char *arch_name;       /* static string, e.g. "Qwen2ForCausalLM" */
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_layers;
    int64_t num_heads;
    int64_t num_kv_heads;
    int64_t head_dim;
    int64_t vocab_size;
    int64_t max_position;        /* max_position_embeddings */
    double rms_norm_eps;
    int tie_word_embeddings;
    int qkv_bias;                /* q_proj, k_proj, v_proj have a bias */
    int o_bias;                  /* o_proj has a bias                   */
    int mlp_bias;                /* gate/up/down_proj have a bias       */
    int qk_norm;                 /* q_norm, k_norm per head (Qwen3)     */
    int64_t sliding_window;      /* keys kept by sliding layers; 0: none */
    uint8_t *layer_sliding;      /* [num_layers] 1: the layer uses the window */
    sl_dtype_t dtype;            /* "dtype"/"torch_dtype"; BF16 if absent */
    sl_rope_config_t rope;
} sl_model_config_t;

/*
 * Parses config.json text (LEN bytes; PATH names it in messages) into a new
 * config, freed with sl_model_config_free(). Unknown architectures give
 * SL_ERR_UNSUPPORTED with the list of supported ones; missing or invalid
 * fields SL_ERR_FORMAT naming the field; shapes beyond sane limits (e.g. more
 * than 4096 layers) SL_ERR_UNSUPPORTED.
 */
sl_status_t sl_model_config_parse(const char *path, const char *text, size_t len,
                                  sl_model_config_t **config_p);

/* Reads DIR/config.json and parses it. */
sl_status_t sl_model_config_load(const char *dir, sl_model_config_t **config_p);

void sl_model_config_free(sl_model_config_t *config);

/* Reads the whole file PATH (at most MAX bytes) into a NUL-terminated buffer
 * the caller frees. Used for the JSON files of a model folder. */
sl_status_t sl_model_read_file(const char *path, size_t max, char **text_p, size_t *len_p);

#endif /* SL_MODEL_MODEL_CONFIG_H */
