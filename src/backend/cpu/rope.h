/*
 * rope.h - rotary position embedding: the cos/sin tables of a RoPE
 * configuration (default, linear, llama3, yarn) and their application.
 *
 * The tables reproduce transformers' LlamaRotaryEmbedding: inverse
 * frequencies in float32 as its _compute_*_parameters functions make them,
 * then rounded to the model's dtype as transformers' inv_freq buffer is (a
 * bf16 model rotates by bf16 frequencies; vLLM does not round); angle =
 * float32(position) * inv_freq in float32; cos and sin of it rounded to
 * float32 and multiplied by the attention factor (YaRN's mscale). The CUDA
 * backend uploads the same tables.
 *
 * Application is HuggingFace's rotate_half convention (not interleaved): for
 * i < d/2, (x[i], x[i + d/2]) is rotated by the angle of frequency i.
 */
#ifndef SL_BACKEND_CPU_ROPE_H
#define SL_BACKEND_CPU_ROPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/model_config.h"

typedef struct sl_rope_table {
    int32_t max_position; /* rows: positions [0, max_position) */
    int half;             /* rotary_dim / 2 */
    float *cos;           /* [max_position, half] */
    float *sin;           /* [max_position, half] */
} sl_rope_table_t;

/* inv_freq: [config->rotary_dim / 2] the inverse frequencies, written. */
void sl_rope_inv_freq(const sl_rope_config_t *config, float *inv_freq);

/* Tables for positions [0, MAX_POSITION) (1..2^26). Freed with
 * sl_rope_table_free(). */
sl_status_t sl_rope_table_create(const sl_rope_config_t *config, int32_t max_position,
                                 sl_rope_table_t **table_p);
void sl_rope_table_free(sl_rope_table_t *table);

/*
 * x:         [n, heads, head_dim] rotated in place (head_dim = 2 * table->half)
 * positions: [n] each < table->max_position
 */
void sl_cpu_rope(float *x, const int32_t *positions, size_t n, size_t heads, size_t head_dim,
                 const sl_rope_table_t *table);

#endif /* SL_BACKEND_CPU_ROPE_H */
