/* rope.c - RoPE tables and rotation; see rope.h. */
#include "config.h"

#include "backend/cpu/rope.h"

#include <math.h>
#include <stdlib.h>

#include "core/bf16.h"
#include "core/log.h"

/* YaRN: the dimension at which a wavelength makes NUM_ROTATIONS turns over
 * the original context. */
static double sl_yarn_correction_dim(double num_rotations, int dim, double base, double max_pos)
{
    return (dim * log(max_pos / (num_rotations * 2.0 * M_PI))) / (2.0 * log(base));
}

void sl_rope_inv_freq(const sl_rope_config_t *c, float *inv_freq)
{
    int dim = c->rotary_dim, half = dim / 2;

    /* base ** (2i / dim) in float32, as torch computes it */
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)dim;
        float pos_freq = (float)pow(c->theta, (double)expo);
        inv_freq[i] = 1.0f / pos_freq;
    }
    switch (c->type) {
    case SL_ROPE_DEFAULT:
        break;
    case SL_ROPE_LINEAR:
        for (int i = 0; i < half; i++)
            inv_freq[i] = inv_freq[i] / (float)c->factor;
        break;
    case SL_ROPE_LLAMA3: {
        double low_wavelen = c->original_max_position / c->low_freq_factor;
        double high_wavelen = c->original_max_position / c->high_freq_factor;
        for (int i = 0; i < half; i++) {
            float inv = inv_freq[i];
            float wavelen = (float)(2.0 * M_PI) / inv;
            if (wavelen < high_wavelen) {
                /* high frequency: unchanged */
            } else if (wavelen > low_wavelen) {
                inv_freq[i] = inv / (float)c->factor;
            } else {
                float smooth = ((float)c->original_max_position / wavelen -
                                (float)c->low_freq_factor) /
                               (float)(c->high_freq_factor - c->low_freq_factor);
                inv_freq[i] = (1.0f - smooth) * inv / (float)c->factor + smooth * inv;
            }
        }
        break;
    }
    case SL_ROPE_YARN: {
        double low = sl_yarn_correction_dim(c->beta_fast, dim, c->theta, c->original_max_position);
        double high = sl_yarn_correction_dim(c->beta_slow, dim, c->theta,
                                             c->original_max_position);
        if (c->truncate) {
            low = floor(low);
            high = ceil(high);
        }
        if (low < 0)
            low = 0;
        if (high > dim - 1)
            high = dim - 1;
        if (low == high)
            high += 0.001; /* as transformers: avoid a zero-width ramp */
        for (int i = 0; i < half; i++) {
            float pos_freq = (float)pow(c->theta, (double)((float)(2 * i) / (float)dim));
            float extra = 1.0f / pos_freq;
            float inter = 1.0f / ((float)c->factor * pos_freq);
            float ramp = ((float)i - (float)low) / (float)(high - low);
            ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
            float extra_factor = 1.0f - ramp;
            inv_freq[i] = inter * (1.0f - extra_factor) + extra * extra_factor;
        }
        break;
    }
    }
    for (int i = 0; i < half; i++) {
        if (c->inv_freq_dtype == SL_DTYPE_BF16)
            inv_freq[i] = sl_bf16_to_float(sl_float_to_bf16(inv_freq[i]));
        else if (c->inv_freq_dtype == SL_DTYPE_F16)
            inv_freq[i] = sl_f16_to_float(sl_float_to_f16(inv_freq[i]));
    }
}

sl_status_t sl_rope_table_create(const sl_rope_config_t *c, int32_t max_position,
                                 sl_rope_table_t **table_p)
{
    sl_rope_table_t *t;
    int half = c->rotary_dim / 2;
    float *inv_freq;
    float attn = (float)c->attention_factor;

    if (max_position < 1 || max_position > (1 << 26) || half < 1 || half > 4096) {
        sl_error("RoPE table for %d positions and rotary dim %d: out of range", max_position,
                 c->rotary_dim);
        return SL_ERR_INVALID_ARG;
    }
    t = calloc(1, sizeof(*t));
    inv_freq = malloc((size_t)half * sizeof(float));
    if (t == NULL || inv_freq == NULL)
        goto nomem;
    t->max_position = max_position;
    t->half = half;
    t->cos = malloc((size_t)max_position * (size_t)half * sizeof(float));
    t->sin = malloc((size_t)max_position * (size_t)half * sizeof(float));
    if (t->cos == NULL || t->sin == NULL)
        goto nomem;
    sl_rope_inv_freq(c, inv_freq);
    for (int32_t p = 0; p < max_position; p++) {
        for (int i = 0; i < half; i++) {
            float angle = (float)p * inv_freq[i]; /* float32 product, as torch */
            t->cos[(size_t)p * half + i] = (float)cos((double)angle) * attn;
            t->sin[(size_t)p * half + i] = (float)sin((double)angle) * attn;
        }
    }
    free(inv_freq);
    *table_p = t;
    return SL_OK;
nomem:
    free(inv_freq);
    sl_rope_table_free(t);
    sl_error("out of memory for the RoPE table of %d positions", max_position);
    return SL_ERR_NO_MEMORY;
}

void sl_rope_table_free(sl_rope_table_t *t)
{
    if (t == NULL)
        return;
    free(t->cos);
    free(t->sin);
    free(t);
}

void sl_cpu_rope(float *x, const int32_t *positions, size_t n, size_t heads, size_t head_dim,
                 const sl_rope_table_t *table)
{
    size_t half = head_dim / 2;

    for (size_t t = 0; t < n; t++) {
        const float *cs = table->cos + (size_t)positions[t] * half; /* [half] */
        const float *sn = table->sin + (size_t)positions[t] * half; /* [half] */
        for (size_t h = 0; h < heads; h++) {
            float *v = x + (t * heads + h) * head_dim; /* [head_dim] */
            for (size_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}
