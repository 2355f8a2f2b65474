/* rope_kv.c - bias, q/k norm, RoPE and KV store on fused QKV rows; see rope_kv.h. */
#include "config.h"

#include "backend/cpu/rope_kv.h"

#include <string.h>

#include "backend/cpu/rmsnorm.h"

void sl_cpu_qkv_rope_store(float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, float eps, const sl_rope_table_t *rope,
                           const int32_t *positions, const int64_t *slots, size_t n,
                           size_t heads, size_t kv_heads, size_t head_dim, float *k_cache,
                           float *v_cache)
{
    size_t ld = (heads + 2 * kv_heads) * head_dim, half = head_dim / 2;
    size_t kv_row = kv_heads * head_dim; /* one cache slot */

    for (size_t t = 0; t < n; t++) {
        float *row = qkv + t * ld;                   /* [q | k | v] */
        const float *cs = rope->cos + (size_t)positions[t] * half; /* [half] */
        const float *sn = rope->sin + (size_t)positions[t] * half; /* [half] */
        float *kd = k_cache + (size_t)slots[t] * kv_row;           /* [kv_heads, head_dim] */
        float *vd = v_cache + (size_t)slots[t] * kv_row;

        for (size_t u = 0; u < heads + 2 * kv_heads; u++) {
            float x[2048]; /* [head_dim]; head_dim <= SL_ATTN_MAX_HEAD_DIM */
            int is_q = u < heads, is_k = !is_q && u < heads + kv_heads;
            const float *nw = is_q ? q_norm : k_norm;
            float *dst = is_q ? row + u * head_dim
                              : is_k ? kd + (u - heads) * head_dim
                                     : vd + (u - heads - kv_heads) * head_dim;

            for (size_t i = 0; i < head_dim; i++)
                x[i] = row[u * head_dim + i] + (bias != NULL ? bias[u * head_dim + i] : 0.0f);
            if (!is_q && !is_k) {
                memcpy(dst, x, head_dim * sizeof(float));
                continue;
            }
            if (nw != NULL)
                sl_cpu_rmsnorm(x, x, NULL, nw, 1, head_dim, eps);
            for (size_t i = 0; i < half; i++) {
                float a = x[i], b = x[i + half];
                dst[i] = a * cs[i] - b * sn[i];
                dst[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}
