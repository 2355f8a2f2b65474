/* argmax.c - greedy sampling; see argmax.h. */
#include "config.h"

#include "backend/cpu/argmax.h"

#include <math.h>

void sl_cpu_argmax(const float *logits, size_t rows, size_t cols, int32_t index_base,
                   int32_t *index, float *value)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = logits + r * cols; /* [cols] */
        float best = -INFINITY;
        size_t at = cols; /* past the end: the first -inf still wins */

        for (size_t c = 0; c < cols; c++) {
            if (row[c] > best || (row[c] == best && at == cols)) {
                best = row[c];
                at = c;
            }
        }
        if (at == cols) { /* only NaN */
            at = 0;
            best = row[0];
        }
        index[r] = (int32_t)at + index_base;
        if (value != NULL)
            value[r] = best;
    }
}
