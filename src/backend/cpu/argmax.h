/*
 * argmax.h - greedy sampling: the largest logit of each row.
 *
 * Twin of gpu/sampling.cu (sl_cuda_argmax_f32): ties go to the lowest
 * column; a row of -inf gives column 0. Rows holding NaN give an unspecified
 * column (the GPU reduction order differs from this scan).
 */
#ifndef SL_BACKEND_CPU_ARGMAX_H
#define SL_BACKEND_CPU_ARGMAX_H

#include <stddef.h>
#include <stdint.h>

/*
 * logits:  [rows, cols]
 * index:   [rows] written: column + index_base
 * value:   [rows] written, or NULL
 */
void sl_cpu_argmax(const float *logits, size_t rows, size_t cols, int32_t index_base,
                   int32_t *index, float *value);

#endif /* SL_BACKEND_CPU_ARGMAX_H */
