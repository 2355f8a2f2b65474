/* attention.c - paged causal GQA attention; see attention.h. */
#include "config.h"

#include "backend/cpu/attention.h"

#include <math.h>
#include <string.h>

void sl_cpu_kv_store(float *k_cache, float *v_cache, const float *k, const float *v,
                     const int64_t *slots, size_t n, size_t kv_heads, size_t head_dim)
{
    size_t row = kv_heads * head_dim; /* one slot: [kv_heads, head_dim] */

    for (size_t t = 0; t < n; t++) {
        memcpy(k_cache + (size_t)slots[t] * row, k + t * row, row * sizeof(float));
        memcpy(v_cache + (size_t)slots[t] * row, v + t * row, row * sizeof(float));
    }
}

typedef struct sl_attn_job {
    float *out;
    const float *q, *k_cache, *v_cache;
    const sl_batch_t *batch;
    const int32_t *positions, *seq_of;
    const sl_attn_params_t *p;
} sl_attn_job_t;

/* One query head of one token. */
static void sl_attn_one(const sl_attn_job_t *job, size_t t, size_t h)
{
    const sl_attn_params_t *p = job->p;
    size_t hd = (size_t)p->head_dim, bs = (size_t)p->block_size;
    size_t kvh = h / (size_t)(p->num_heads / p->num_kv_heads);
    size_t slot_row = (size_t)p->num_kv_heads * hd; /* floats per cache slot */
    const float *q = job->q + (t * (size_t)p->num_heads + h) * hd;  /* [hd] */
    float *out = job->out + (t * (size_t)p->num_heads + h) * hd;    /* [hd] */
    const sl_batch_seq_t *seq = &job->batch->seqs[job->seq_of[t]];
    int64_t pos = job->positions[t];
    int64_t lo = p->window > 0 && pos - p->window + 1 > 0 ? pos - p->window + 1 : 0;
    float acc[SL_ATTN_MAX_HEAD_DIM]; /* [hd] sum of p * v, scaled to the running max */
    float scores[SL_ATTN_MAX_BLOCK]; /* [bs] this block's scores, then weights */
    float max = -INFINITY, sum = 0.0f;

    memset(acc, 0, hd * sizeof(float));
    for (int64_t b = lo / (int64_t)bs; b <= pos / (int64_t)bs; b++) {
        int64_t first = b * (int64_t)bs > lo ? b * (int64_t)bs : lo;
        int64_t last = b * (int64_t)bs + (int64_t)bs - 1 < pos ? b * (int64_t)bs + (int64_t)bs - 1
                                                                : pos;
        size_t base = (size_t)seq->block_table[b] * bs;
        float bmax = max;

        for (int64_t kp = first; kp <= last; kp++) {
            const float *k = job->k_cache + (base + (size_t)(kp % (int64_t)bs)) * slot_row +
                             kvh * hd; /* [hd] */
            float s = 0.0f;
            for (size_t i = 0; i < hd; i++)
                s += q[i] * k[i];
            s *= p->scale;
            scores[kp - first] = s;
            if (s > bmax)
                bmax = s;
        }
        /* Rescale what was accumulated under the old maximum. */
        if (bmax > max) {
            float r = expf(max - bmax); /* 0 on the first block */
            sum *= r;
            for (size_t i = 0; i < hd; i++)
                acc[i] *= r;
            max = bmax;
        }
        for (int64_t kp = first; kp <= last; kp++) {
            const float *v = job->v_cache + (base + (size_t)(kp % (int64_t)bs)) * slot_row +
                             kvh * hd; /* [hd] */
            float w = expf(scores[kp - first] - max);
            sum += w;
            for (size_t i = 0; i < hd; i++)
                acc[i] += w * v[i];
        }
    }
    for (size_t i = 0; i < hd; i++)
        out[i] = acc[i] / sum;
}

static void sl_attn_part(void *arg, size_t begin, size_t end)
{
    const sl_attn_job_t *job = arg;
    size_t heads = (size_t)job->p->num_heads;

    for (size_t i = begin; i < end; i++)
        sl_attn_one(job, i / heads, i % heads);
}

void sl_cpu_paged_attention(sl_cpu_pool_t *pool, float *out, const float *q,
                            const float *k_cache, const float *v_cache, const sl_batch_t *batch,
                            const int32_t *positions, const int32_t *seq_of,
                            const sl_attn_params_t *params)
{
    sl_attn_job_t job = {
        .out = out, .q = q, .k_cache = k_cache, .v_cache = v_cache, .batch = batch,
        .positions = positions, .seq_of = seq_of, .p = params,
    };
    /* ~64k multiply-adds per part, or waking threads costs more than it saves */
    size_t keys = 0;
    for (int32_t t = 0; t < batch->num_tokens; t++)
        keys += (size_t)positions[t] + 1;
    size_t per_item = 2 * (keys / (size_t)batch->num_tokens) * (size_t)params->head_dim + 1;
    sl_cpu_parallel_for(pool, (size_t)batch->num_tokens * (size_t)params->num_heads,
                        65536 / per_item + 1, sl_attn_part, &job);
}
