/*
 * embedding.h - token embedding gather, vocab-parallel.
 *
 * A TP rank holds the rows [vocab_begin, vocab_begin + table->rows) of the
 * embedding; tokens outside its range get zeros, so that the sum over ranks
 * (an all-reduce) is every token's embedding exactly.
 */
#ifndef SL_BACKEND_CPU_EMBEDDING_H
#define SL_BACKEND_CPU_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/*
 * out:    [n, table->cols] written
 * tokens: [n] token ids
 * table:  [table->rows, table->cols] rows of ids [vocab_begin, vocab_begin + rows)
 */
void sl_cpu_embedding(float *out, const int32_t *tokens, size_t n, const sl_weight_t *table,
                      int64_t vocab_begin);

#endif /* SL_BACKEND_CPU_EMBEDDING_H */
