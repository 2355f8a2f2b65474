/*
 * results.h - reads a result file back (tests, the import of a merged file
 * on resume, tools). Rows are read through a cache of blocks of rows, so a
 * sequential walk costs a few HDF5 reads per block, not per row.
 */
#ifndef SL_IO_RESULTS_H
#define SL_IO_RESULTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/record.h"

typedef struct sl_io_results sl_io_results_t;

/* Errors: SL_ERR_HDF5 (not an HDF5 file, missing datasets), SL_ERR_FORMAT
 * (not a slinfer result file, or a newer format version, or inconsistent
 * column lengths). */
sl_status_t sl_io_results_open(const char *path, sl_io_results_t **results_p);
void sl_io_results_close(sl_io_results_t *results);

int64_t sl_io_results_rows(const sl_io_results_t *results);
int64_t sl_io_results_num_errors(const sl_io_results_t *results);
int64_t sl_io_results_num_steps(const sl_io_results_t *results);
/* The root attribute "complete". */
int sl_io_results_complete(const sl_io_results_t *results);

/* One row of /results. `result` has one choice (`choice`); its id is a
 * NUL-terminated copy owned by the row; output ids, logprobs (NULL when all
 * are NaN) and text point into the reader's cache, valid until the next
 * sl_io_results_get(). Zero-initialize before the first use. */
typedef struct sl_io_result_row {
    sl_io_result_t result;
    sl_io_choice_t choice;
    int32_t choice_index;
    double queue_time, ttft, e2e;
    char *id;        /* storage */
    size_t id_cap;
} sl_io_result_row_t;

sl_status_t sl_io_results_get(sl_io_results_t *results, int64_t row, sl_io_result_row_t *out);
void sl_io_result_row_clear(sl_io_result_row_t *row);

/* One row of /errors: id and message are NUL-terminated copies owned by
 * the row. Zero-initialize before the first use. */
typedef struct sl_io_error_row {
    sl_io_error_t error;
    size_t id_cap, message_cap;
} sl_io_error_row_t;

sl_status_t sl_io_results_get_error(sl_io_results_t *results, int64_t row,
                                    sl_io_error_row_t *out);
void sl_io_error_row_clear(sl_io_error_row_t *row);

sl_status_t sl_io_results_get_step(sl_io_results_t *results, int64_t row, sl_io_step_t *out);

/* The file's metadata as one JSON object: the root and /meta attributes,
 * and /meta's JSON documents parsed ("arguments", "topology_plan",
 * "identity", "parts"). A new reference. */
sl_status_t sl_io_results_meta(sl_io_results_t *results, json_t **meta_p);

#endif /* SL_IO_RESULTS_H */
