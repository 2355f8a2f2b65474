/*
 * reader_impl.h - what reader.c shares with the two input formats
 * (reader_jsonl.c, reader_h5.c) and the line parser (parse_line.c).
 */
#ifndef SL_IO_READER_IMPL_H
#define SL_IO_READER_IMPL_H

#include <jansson.h>
#include <stdio.h>

#include "io/idset.h"
#include "io/reader.h"

typedef struct sl_io_jsonl sl_io_jsonl_t;
typedef struct sl_io_h5in sl_io_h5in_t;

struct sl_io_reader {
    char *spec;                 /* for messages */
    sl_io_reader_opts_t opts;
    sl_io_reader_stats_t stats;
    sl_io_jsonl_t *jsonl;       /* one of the two */
    sl_io_h5in_t *h5;
    int failed;                 /* a read failed: refuse further calls */
};

/* ---- JSONL (reader_jsonl.c) ---------------------------------------------- */
sl_status_t sl_io_jsonl_open(sl_io_reader_t *reader, const char *path);
/* Next record of the reader's group, or NULL at the end. */
sl_status_t sl_io_jsonl_next(sl_io_reader_t *reader, sl_io_record_t **record_p);
void sl_io_jsonl_close(sl_io_jsonl_t *jsonl);
size_t sl_io_jsonl_id_bytes(const sl_io_jsonl_t *jsonl);
sl_status_t sl_io_jsonl_count(const char *path, int64_t *count_p);

/* ---- HDF5 (reader_h5.c) ---------------------------------------------------- */
sl_status_t sl_io_h5in_open(sl_io_reader_t *reader, const char *path, const char *object);
sl_status_t sl_io_h5in_next(sl_io_reader_t *reader, sl_io_record_t **record_p);
void sl_io_h5in_close(sl_io_h5in_t *h5);
sl_status_t sl_io_h5in_count(const char *path, const char *object, int64_t *count_p);

/* ---- one JSON line (parse_line.c) ---------------------------------------- */

/* The id of a parsed line: "custom_id" of a batch line, "id" (or
 * "custom_id") of a plain one, or NULL when it has none or it is not
 * usable (then the record gets "line-N"; the bad field is reported by
 * sl_io_line_to_request). Writes the id into BUF[SIZE] for integer ids. */
const char *sl_io_line_id(const json_t *obj, char *buf, size_t size);

/*
 * Fills REQ (index, line, group and id already set by the caller) from OBJ,
 * the parsed line. SL_OK, or SL_ERR_FORMAT with "FIELD: reason" in ERR,
 * leaving REQ's allocations for sl_io_record_free() either way.
 */
sl_status_t sl_io_line_to_request(json_t *obj, sl_io_request_t *req, char *err, size_t size);

/* An error record of CODE for record INDEX at LINE, with message
 * "line LINE: TEXT" ("row LINE: " when HDF5_ROW). */
sl_status_t sl_io_make_error(int64_t index, int64_t line, int hdf5_row, int32_t group,
                             const char *id, sl_io_error_code_t code, const char *text,
                             sl_io_record_t **record_p);

#endif /* SL_IO_READER_IMPL_H */
