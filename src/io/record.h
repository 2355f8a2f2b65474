/*
 * record.h - what flows through the I/O layer: requests and input errors
 * coming out of the readers, results, error records and engine steps going
 * into the writers.
 *
 * Numbering. Every input record has a record index k (0-based, in file
 * order) and belongs to data-parallel group k % ngroups. In a JSONL file a
 * record is a non-blank line: blank lines (empty or only spaces, tabs, CR)
 * are skipped and take no index, so the numbering depends only on the file.
 * `line` is the 1-based physical line of a JSONL record, and the 0-based row
 * of an HDF5 record.
 *
 * Ids. A record's id is its OpenAI `custom_id`, or a plain line's `id`
 * (a string, or an integer written in decimal), else it is derived from its
 * position: "line-17" (JSONL line 17) or "row-5" (HDF5 row 5). Ids are
 * unique across the whole input: a later record repeating an id becomes a
 * duplicate_id error record.
 *
 * Ownership. Records returned by a reader are owned by the caller and freed
 * with sl_io_record_free(). Results, choices and steps handed to a writer
 * only point at the caller's memory: the writer copies what it needs before
 * it returns.
 */
#ifndef SL_IO_RECORD_H
#define SL_IO_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Which OpenAI route the request is for; decides the JSONL output shape. */
typedef enum {
    SL_IO_ENDPOINT_COMPLETIONS = 0,      /* /v1/completions */
    SL_IO_ENDPOINT_CHAT_COMPLETIONS = 1, /* /v1/chat/completions */
} sl_io_endpoint_t;

/* What the prompt of a request is. */
typedef enum {
    SL_IO_PROMPT_TEXT = 0,     /* raw text, tokenized by the engine */
    SL_IO_PROMPT_MESSAGES = 1, /* chat messages, rendered by the chat template */
    SL_IO_PROMPT_TOKENS = 2,   /* token ids, used as they are */
} sl_io_prompt_kind_t;

/* Final state of one result row (a choice of a request). */
typedef enum {
    SL_IO_STATUS_OK = 0,        /* finished normally (stop or length) */
    SL_IO_STATUS_ERROR = 1,     /* failed while generating; output is partial */
    SL_IO_STATUS_CANCELLED = 2, /* aborted (serving); output is partial */
} sl_io_status_t;

/* Why generation stopped (OpenAI's finish_reason, plus "none"). */
typedef enum {
    SL_IO_FINISH_NONE = 0,   /* did not finish (status error or cancelled) */
    SL_IO_FINISH_STOP = 1,   /* EOS, stop token id or stop string */
    SL_IO_FINISH_LENGTH = 2, /* max_tokens or the context length */
    SL_IO_FINISH_ABORT = 3,  /* cancelled by the caller */
} sl_io_finish_t;

/* Why a record produced no result. The first four come from the readers,
 * the last two from the engine. Stored as an HDF5 enum and as the `code`
 * of the OpenAI error body, by the names sl_io_error_code_name() gives. */
typedef enum {
    SL_IO_ERR_INVALID_JSON = 0,    /* "invalid_json": the line does not parse */
    SL_IO_ERR_INVALID_REQUEST = 1, /* "invalid_request": types, fields, url, ... */
    SL_IO_ERR_DUPLICATE_ID = 2,    /* "duplicate_id": id seen on an earlier record */
    SL_IO_ERR_LINE_TOO_LONG = 3,   /* "line_too_long": over the reader's limit */
    SL_IO_ERR_PROMPT_TOO_LONG = 4, /* "prompt_too_long": longer than the context */
    SL_IO_ERR_ENGINE = 5,          /* "engine_error": any other engine refusal */
} sl_io_error_code_t;
#define SL_IO_ERR_NUM_CODES 6

typedef enum {
    SL_IO_RECORD_REQUEST = 0,
    SL_IO_RECORD_ERROR = 1,
} sl_io_record_type_t;

/* A request the engine should run. */
typedef struct sl_io_request {
    int64_t index;   /* record index k */
    int64_t line;    /* JSONL: 1-based line; HDF5: 0-based row */
    int32_t dp_group;
    char *id;        /* NUL-terminated, never NULL */
    int id_derived;  /* 1: the id is "line-N" / "row-N" */
    int batch_line;  /* 1: came from an OpenAI batch line */
    int hdf5_row;    /* 1: came from HDF5 input (line is a 0-based row) */
    sl_io_endpoint_t endpoint;
    sl_io_prompt_kind_t kind;
    char *text;          /* [text_len + 1] SL_IO_PROMPT_TEXT, else NULL */
    size_t text_len;
    json_t *messages;    /* SL_IO_PROMPT_MESSAGES: array of message objects */
    int32_t *input_ids;  /* [n_input_ids] SL_IO_PROMPT_TOKENS, else NULL */
    size_t n_input_ids;
    /* The sampling fields (every member of the body, or of a plain line,
     * other than the prompt, model and id), types of the well-known ones
     * already checked by sl_io_sampling_validate(). Never NULL. */
    json_t *params;
    char *model;     /* body.model / model, or NULL */
} sl_io_request_t;

/* A record that produced no result: bad input, or refused by the engine. */
typedef struct sl_io_error {
    int64_t index;
    int64_t line;
    int32_t dp_group;
    char *id;        /* NUL-terminated, never NULL */
    sl_io_error_code_t code;
    /* "line 17: body.messages: expected an array of objects, got string" */
    char *message;
} sl_io_error_t;

/* What a reader yields: one of the two. */
typedef struct sl_io_record {
    sl_io_record_type_t type;
    union {
        sl_io_request_t request; /* type == SL_IO_RECORD_REQUEST */
        sl_io_error_t error;     /* type == SL_IO_RECORD_ERROR */
    } u;
} sl_io_record_t;

/* One completion of a request (a request with n > 1 has n). Times are Unix
 * epoch seconds; durations seconds; NaN where not applicable (an inter-token
 * latency needs two tokens). */
typedef struct sl_io_choice {
    sl_io_finish_t finish_reason;
    int32_t completion_tokens;  /* tokens generated, including a stop token */
    const int32_t *output_ids;  /* [n_output_ids] */
    size_t n_output_ids;
    const float *logprobs;      /* [n_output_ids] logprob of each output id, or NULL */
    const char *text;           /* [text_len] UTF-8, need not be NUL-terminated */
    size_t text_len;
    double first_token_time;
    double finish_time;
    double itl_mean;
    double itl_max;
} sl_io_choice_t;

/* A finished request as the engine hands it to a writer. Queue time, TTFT
 * and end-to-end latency are derived by the writer from the absolute times
 * (first_scheduled - arrival, first_token - arrival, finish - arrival). */
typedef struct sl_io_result {
    int64_t index;
    int64_t line;
    const char *id;             /* NUL-terminated */
    sl_io_endpoint_t endpoint;
    sl_io_status_t status;
    int32_t prompt_tokens;
    int32_t cached_tokens;      /* prompt tokens served from the prefix cache */
    double arrival_time;
    double first_scheduled_time;
    int32_t node;               /* node id of the DP group leader */
    int32_t rank;               /* its rank */
    int32_t dp_group;
    size_t n_choices;           /* >= 1 */
    const sl_io_choice_t *choices; /* [n_choices] */
} sl_io_result_t;

/* One engine step of one DP group. */
typedef struct sl_io_step {
    int64_t step;          /* per-group counter */
    int32_t dp_group;
    int32_t batch_size;    /* sequences in the step */
    int32_t prefill_tokens;
    int32_t decode_tokens;
    double time;           /* start, Unix epoch seconds */
    double duration;       /* seconds */
} sl_io_step_t;

/* Stable lower-case names ("completions", "ok", "stop", "invalid_json", ...)
 * as stored in the HDF5 enums and the JSONL files. Never NULL. */
const char *sl_io_endpoint_name(sl_io_endpoint_t endpoint);
const char *sl_io_prompt_kind_name(sl_io_prompt_kind_t kind);
const char *sl_io_status_name(sl_io_status_t status);
const char *sl_io_finish_name(sl_io_finish_t finish);
const char *sl_io_error_code_name(sl_io_error_code_t code);

/* The JSON type of V as the error messages name it: "string", "integer",
 * "real", "boolean", "null", "array", "object" (V NULL: "nothing"). */
const char *sl_io_json_type_name(const json_t *v);

/* Frees what a reader returned (and the record itself). NULL is allowed. */
void sl_io_record_free(sl_io_record_t *record);

/*
 * An error record for REQUEST (the engine's way to report, e.g., a prompt
 * longer than the context): same index, line, group and id; the message is
 * "line 17: " (or "row 5: " for HDF5 input) followed by the formatted text.
 * The result is a record of type SL_IO_RECORD_ERROR owned by the caller.
 */
sl_status_t sl_io_error_for_request(const sl_io_request_t *request, sl_io_error_code_t code,
                                    sl_io_record_t **record_p, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when BUF[0..LEN) is valid UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF); else 0 and, if BAD_P, the offset of the first bad
 * byte. */
int sl_io_utf8_valid(const char *buf, size_t len, size_t *bad_p);

#endif /* SL_IO_RECORD_H */
