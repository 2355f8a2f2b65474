/*
 * activation.h - the elementwise pieces of the MLP and the row-parallel
 * layers: SwiGLU's silu(gate) * up, and a bias added to every row.
 */
#ifndef SL_BACKEND_CPU_ACTIVATION_H
#define SL_BACKEND_CPU_ACTIVATION_H

#include <stddef.h>

/*
 * out:  [n] = silu(gate) * up, silu(g) = g / (1 + exp(-g)); may alias gate or up
 * gate: [n]
 * up:   [n]
 */
void sl_cpu_silu_mul(float *out, const float *gate, const float *up, size_t n);

/*
 * x:    [rows, dim] in place: x[r] += bias
 * bias: [dim]
 */
void sl_cpu_add_bias(float *x, const float *bias, size_t rows, size_t dim);

#endif /* SL_BACKEND_CPU_ACTIVATION_H */
