/*
 * rmsnorm.h - RMSNorm with the residual add fused, float32 reference.
 *
 * Twin of gpu/rmsnorm.cu (sl_cuda_rmsnorm_*): same arguments, same meaning.
 * For each row r:
 *
 *     z        = x[r] + residual[r]          (z = x[r] when residual is NULL)
 *     residual[r] <- z                      (the updated residual stream)
 *     out[r]   = z / sqrt(mean(z^2) + eps) * weight
 *
 * which is the "hidden = hidden + sublayer(hidden); norm(hidden)" step of a
 * pre-norm transformer done in one pass.
 */
#ifndef SL_BACKEND_CPU_RMSNORM_H
#define SL_BACKEND_CPU_RMSNORM_H

#include <stddef.h>

/*
 * out:      [rows, dim]  written; may alias x
 * x:        [rows, dim]  sublayer output (or the hidden state itself)
 * residual: [rows, dim]  residual stream, replaced by x + residual; or NULL
 * weight:   [dim]        learned scale
 */
void sl_cpu_rmsnorm(float *out, const float *x, float *residual, const float *weight,
                    size_t rows, size_t dim, float eps);

#endif /* SL_BACKEND_CPU_RMSNORM_H */
