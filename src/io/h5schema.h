/*
 * h5schema.h - the columns of the result file, shared by its writer
 * (h5out.c) and its reader (results.c) so the two cannot drift apart.
 * docs/OUTPUT.md documents the same list for users: change both together
 * (and SL_IO_H5_FORMAT_VERSION when a reader of the old layout would break).
 */
#ifndef SL_IO_H5SCHEMA_H
#define SL_IO_H5SCHEMA_H

#include <stddef.h>

#define SL_IO_H5_FORMAT "slinfer-results"
#define SL_IO_H5_FORMAT_VERSION 1

typedef enum {
    SL_IO_CT_I64,
    SL_IO_CT_I32,
    SL_IO_CT_U64,
    SL_IO_CT_U8,
    SL_IO_CT_F64,
    SL_IO_CT_F32,
    SL_IO_CT_STATUS,   /* enum8 */
    SL_IO_CT_FINISH,   /* enum8 */
    SL_IO_CT_ENDPOINT, /* enum8 */
    SL_IO_CT_CODE,     /* enum8 */
} sl_io_col_type_t;

typedef struct sl_io_col_spec {
    const char *name;
    sl_io_col_type_t type;
    int offsets;       /* a ragged column: index of its offsets column; else -1 */
    const char *doc;
} sl_io_col_spec_t;

/* /results: one row per choice (one per request unless n > 1). */
enum {
    SL_IO_R_INPUT_INDEX, SL_IO_R_LINE, SL_IO_R_CHOICE, SL_IO_R_ID_OFFSETS, SL_IO_R_ID,
    SL_IO_R_ENDPOINT, SL_IO_R_STATUS, SL_IO_R_FINISH_REASON, SL_IO_R_PROMPT_TOKENS,
    SL_IO_R_CACHED_TOKENS, SL_IO_R_COMPLETION_TOKENS, SL_IO_R_OUTPUT_IDS_OFFSETS,
    SL_IO_R_OUTPUT_IDS, SL_IO_R_OUTPUT_LOGPROBS, SL_IO_R_TEXT_OFFSETS, SL_IO_R_TEXT,
    SL_IO_R_ARRIVAL_TIME, SL_IO_R_FIRST_SCHEDULED_TIME, SL_IO_R_FIRST_TOKEN_TIME,
    SL_IO_R_FINISH_TIME, SL_IO_R_QUEUE_TIME, SL_IO_R_TTFT, SL_IO_R_ITL_MEAN, SL_IO_R_ITL_MAX,
    SL_IO_R_E2E, SL_IO_R_NODE, SL_IO_R_RANK, SL_IO_R_DP_GROUP,
    SL_IO_R_NCOLS
};

/* /errors: one row per error record. */
enum {
    SL_IO_E_INPUT_INDEX, SL_IO_E_LINE, SL_IO_E_DP_GROUP, SL_IO_E_ID_OFFSETS, SL_IO_E_ID,
    SL_IO_E_CODE, SL_IO_E_MESSAGE_OFFSETS, SL_IO_E_MESSAGE,
    SL_IO_E_NCOLS
};

/* /steps: one row per engine step of a DP group. */
enum {
    SL_IO_S_STEP, SL_IO_S_DP_GROUP, SL_IO_S_BATCH_SIZE, SL_IO_S_PREFILL_TOKENS,
    SL_IO_S_DECODE_TOKENS, SL_IO_S_TIME, SL_IO_S_DURATION,
    SL_IO_S_NCOLS
};

extern const sl_io_col_spec_t sl_io_results_cols[SL_IO_R_NCOLS];
extern const sl_io_col_spec_t sl_io_errors_cols[SL_IO_E_NCOLS];
extern const sl_io_col_spec_t sl_io_steps_cols[SL_IO_S_NCOLS];

/* Bytes of one element of TYPE in memory. */
size_t sl_io_col_elem(sl_io_col_type_t type);

#endif /* SL_IO_H5SCHEMA_H */
