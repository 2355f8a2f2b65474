/* embedding.c - vocab-parallel embedding gather; see embedding.h. */
#include "config.h"

#include "backend/cpu/embedding.h"

#include <string.h>

void sl_cpu_embedding(float *out, const int32_t *tokens, size_t n, const sl_weight_t *table,
                      int64_t vocab_begin)
{
    size_t dim = (size_t)table->cols, esize = sl_dtype_size(table->dtype);

    for (size_t t = 0; t < n; t++) {
        int64_t row = (int64_t)tokens[t] - vocab_begin;
        float *o = out + t * dim; /* [dim] */
        if (row < 0 || row >= table->rows)
            memset(o, 0, dim * sizeof(float));
        else
            sl_dtype_to_f32(o, (const char *)table->data + (size_t)row * (size_t)table->ld * esize,
                            table->dtype, dim);
    }
}
