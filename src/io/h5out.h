/*
 * h5out.h - writes one result file: the three tables and the metadata.
 * Used by the merge (merge.c); the layout is h5schema.h / docs/OUTPUT.md.
 */
#ifndef SL_IO_H5OUT_H
#define SL_IO_H5OUT_H

#include <stdint.h>

#include "core/status.h"
#include "io/merge.h"
#include "io/record.h"

typedef struct sl_io_h5out sl_io_h5out_t;

/* Totals and documents the merge computes, written into /meta. */
typedef struct sl_io_h5out_meta {
    const sl_io_run_meta_t *run;
    int complete;
    double first_start_time;     /* earliest part creation */
    double last_finish_time;     /* latest result finish */
    int64_t requests, rows, errors, steps, prompt_tokens, completion_tokens;
    int64_t run_requests, run_completion_tokens; /* finished during this run */
    const char *identity_json;
    const char *parts_json;
} sl_io_h5out_meta_t;

/* Creates PATH (truncating it) with empty tables. */
sl_status_t sl_io_h5out_create(const char *path, sl_io_h5out_t **out_p);
/* One row per choice of RESULT. */
sl_status_t sl_io_h5out_result(sl_io_h5out_t *out, const sl_io_result_t *result);
sl_status_t sl_io_h5out_error(sl_io_h5out_t *out, const sl_io_error_t *error);
sl_status_t sl_io_h5out_step(sl_io_h5out_t *out, const sl_io_step_t *step);
/* Writes the metadata and closes the file (the out is freed either way). */
sl_status_t sl_io_h5out_finish(sl_io_h5out_t *out, const sl_io_h5out_meta_t *meta);
/* Closes without finishing (error paths); the caller removes the file. */
void sl_io_h5out_abort(sl_io_h5out_t *out);

#endif /* SL_IO_H5OUT_H */
