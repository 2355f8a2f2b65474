/*
 * rope_kv.h - the steps between the fused QKV projection and attention, in
 * float32: QKV bias, per-head q/k RMSNorm (Qwen3), RoPE on q and k, and the
 * store of k and v into their paged-cache slots.
 *
 * Twin of gpu/rope_kv.cu (sl_cuda_qkv_rope_store_bf16), composed of the CPU
 * backend's own steps (sl_cpu_add_bias, sl_cpu_rmsnorm, sl_cpu_rope,
 * sl_cpu_kv_store) on the fused [q | k | v] row layout the GPU uses.
 */
#ifndef SL_BACKEND_CPU_ROPE_KV_H
#define SL_BACKEND_CPU_ROPE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/rope.h"

/*
 * qkv:       [n, (heads + 2 kv_heads) * head_dim] q rotated in place; the k and
 *            v parts are left as they were
 * bias:      [(heads + 2 kv_heads) * head_dim] or NULL
 * q_norm, k_norm: [head_dim] both or neither
 * positions: [n]; slots: [n] cache slot of each token
 * k_cache, v_cache: [slots, kv_heads, head_dim]
 */
void sl_cpu_qkv_rope_store(float *qkv, const float *bias, const float *q_norm,
                           const float *k_norm, float eps, const sl_rope_table_t *rope,
                           const int32_t *positions, const int64_t *slots, size_t n,
                           size_t heads, size_t kv_heads, size_t head_dim, float *k_cache,
                           float *v_cache);

#endif /* SL_BACKEND_CPU_ROPE_KV_H */
