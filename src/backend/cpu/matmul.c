/* matmul.c - out = x . W^T + bias over stored weights; see matmul.h. */
#include "config.h"

#include "backend/cpu/matmul.h"

#include <string.h>

/* Columns of W converted at once: 4 rows of this fit in L1 with x. */
#define SL_MM_CHUNK 512
/* Output columns computed together, sharing each load of x. */
#define SL_MM_COLS 4

typedef struct sl_mm_job {
    float *out;           /* [rows, n] */
    const float *x;       /* [rows, k] */
    const sl_weight_t *w; /* [n, k]   */
    const float *bias;    /* [n] or NULL */
    size_t rows, n, k;
} sl_mm_job_t;

/* Eight independent partial sums: the compiler vectorises them, and the
 * order is fixed, so results are reproducible. */
static inline float sl_dot(const float *a, const float *b, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;

    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Output columns [begin, end): each in float32, chunk by chunk of k. */
static void sl_mm_part(void *arg, size_t begin, size_t end)
{
    const sl_mm_job_t *job = arg;
    const sl_weight_t *w = job->w;
    size_t esize = sl_dtype_size(w->dtype);
    float wbuf[SL_MM_COLS][SL_MM_CHUNK]; /* [cols, chunk] converted rows of W */

    for (size_t o0 = begin; o0 < end; o0 += SL_MM_COLS) {
        size_t nc = end - o0 < SL_MM_COLS ? end - o0 : SL_MM_COLS;

        for (size_t t = 0; t < job->rows; t++)
            for (size_t c = 0; c < nc; c++)
                job->out[t * job->n + o0 + c] = 0.0f;
        for (size_t k0 = 0; k0 < job->k; k0 += SL_MM_CHUNK) {
            size_t kc = job->k - k0 < SL_MM_CHUNK ? job->k - k0 : SL_MM_CHUNK;
            for (size_t c = 0; c < nc; c++)
                sl_dtype_to_f32(wbuf[c],
                                (const char *)w->data +
                                    ((o0 + c) * (size_t)w->ld + k0) * esize,
                                w->dtype, kc);
            for (size_t t = 0; t < job->rows; t++) {
                const float *xr = job->x + t * job->k + k0; /* [kc] */
                float *orow = job->out + t * job->n + o0;     /* [nc] */
                for (size_t c = 0; c < nc; c++)
                    orow[c] += sl_dot(xr, wbuf[c], kc);
            }
        }
        if (job->bias != NULL)
            for (size_t t = 0; t < job->rows; t++)
                for (size_t c = 0; c < nc; c++)
                    job->out[t * job->n + o0 + c] += job->bias[o0 + c];
    }
}

void sl_cpu_matmul(sl_cpu_pool_t *pool, float *out, const float *x, const sl_weight_t *w,
                   const float *bias, size_t rows)
{
    sl_mm_job_t job = {
        .out = out, .x = x, .w = w, .bias = bias,
        .rows = rows, .n = (size_t)w->rows, .k = (size_t)w->cols,
    };

    if (rows == 0 || job.n == 0)
        return;
    /* Enough work per part to be worth a wake-up: ~64k multiply-adds. */
    size_t grain = 65536 / (job.k * rows + 1) + 1;
    grain = (grain + SL_MM_COLS - 1) / SL_MM_COLS * SL_MM_COLS;
    sl_cpu_parallel_for(pool, job.n, grain, sl_mm_part, &job);
}
