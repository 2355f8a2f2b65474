/* activation.c - SwiGLU and bias add; see activation.h. */
#include "config.h"

#include "backend/cpu/activation.h"

#include <math.h>

void sl_cpu_silu_mul(float *out, const float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void sl_cpu_add_bias(float *x, const float *bias, size_t rows, size_t dim)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < dim; i++)
            x[r * dim + i] += bias[i];
}
