/* rmsnorm.c - float32 RMSNorm with fused residual add; see rmsnorm.h. */
#include "config.h"

#include "backend/cpu/rmsnorm.h"

#include <math.h>

void sl_cpu_rmsnorm(float *out, const float *x, float *residual, const float *weight,
                    size_t rows, size_t dim, float eps)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;     /* [dim] */
        float *res = residual != NULL ? residual + r * dim : NULL; /* [dim] */
        float *o = out + r * dim;          /* [dim] */
        /* Sum of squares in double: the oracle must not drift with dim. */
        double sum_sq = 0.0;

        for (size_t i = 0; i < dim; i++) {
            float z = res != NULL ? xr[i] + res[i] : xr[i];
            if (res != NULL)
                res[i] = z;
            sum_sq += (double)z * (double)z;
        }
        float inv_rms = (float)(1.0 / sqrt(sum_sq / (double)dim + (double)eps));
        const float *z = res != NULL ? res : xr;
        for (size_t i = 0; i < dim; i++)
            o[i] = z[i] * inv_rms * weight[i];
    }
}
