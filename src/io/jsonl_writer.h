/*
 * jsonl_writer.h - results as OpenAI batch output lines (--output-jsonl).
 *
 * Output file, one line per request:
 *   {"id": "batch_req_<16 hex>", "custom_id": ID,
 *    "response": {"status_code": 200, "request_id": "req_<16 hex>",
 *                 "body": <a chat.completion or text_completion object>},
 *    "error": null}
 * Errors file (FILE with ".jsonl" replaced by ".errors.jsonl", or
 * FILE.errors.jsonl), one line per error record, in the shape of OpenAI's
 * batch error file:
 *   {"id": ..., "custom_id": ID, "response": {"status_code": 400 (500 for
 *    engine_error), "request_id": ..., "body": {"error": {"message": MSG,
 *    "type": "invalid_request_error" | "server_error", "param": null,
 *    "code": CODE}}}, "error": null}
 * The hex ids are hashes of the record's index and id, so rewriting the
 * files (a resumed run's merge) gives identical lines.
 *
 * Both files are written as NAME.tmp and renamed into place by close, so a
 * crash leaves the previous files (or none), never half of one.
 */
#ifndef SL_IO_JSONL_WRITER_H
#define SL_IO_JSONL_WRITER_H

#include <jansson.h>

#include "core/status.h"
#include "io/record.h"

typedef struct sl_io_jsonl_writer sl_io_jsonl_writer_t;

/* MODEL is the "model" of every body (NULL: "unknown"). */
sl_status_t sl_io_jsonl_writer_open(const char *path, const char *model,
                                    sl_io_jsonl_writer_t **writer_p);
sl_status_t sl_io_jsonl_write_result(sl_io_jsonl_writer_t *writer, const sl_io_result_t *result);
sl_status_t sl_io_jsonl_write_error(sl_io_jsonl_writer_t *writer, const sl_io_error_t *error);
/* Flushes, fsyncs and renames both files into place. */
sl_status_t sl_io_jsonl_writer_close(sl_io_jsonl_writer_t *writer);
/* Removes the temporary files (error paths). NULL is allowed. */
void sl_io_jsonl_writer_abort(sl_io_jsonl_writer_t *writer);

/* The errors file's name for PATH, malloc'd. */
char *sl_io_jsonl_errors_path(const char *path);

/* The line objects themselves (new references), for the HTTP server too.
 * The response body's "created" is the finish time (whole seconds). */
json_t *sl_io_jsonl_result_line(const sl_io_result_t *result, const char *model);
json_t *sl_io_jsonl_error_line(const sl_io_error_t *error);
/* The body alone: a chat.completion or text_completion object. */
json_t *sl_io_jsonl_completion_body(const sl_io_result_t *result, const char *model);

#endif /* SL_IO_JSONL_WRITER_H */
