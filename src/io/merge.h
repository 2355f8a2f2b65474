/*
 * merge.h - builds the HDF5 result file (and the optional OpenAI batch JSONL
 * files) from the part files of a run; docs/OUTPUT.md describes the result.
 *
 * Rank 0 calls it once every writer has closed (or at any time for a
 * snapshot of what is committed so far: parts are only read). The file is
 * written as OUT.merge-tmp, fsync'd and renamed over OUT, so a crash during
 * the merge leaves the previous OUT (or none) and the parts intact, and a
 * reader never sees a half-written OUT. A record committed twice (which the
 * resume index prevents) is kept once and counted in `duplicates`.
 */
#ifndef SL_IO_MERGE_H
#define SL_IO_MERGE_H

#include <stdint.h>

#include "core/status.h"

/* What the run knows about itself, stored in /meta. Strings may be NULL. */
typedef struct sl_io_run_meta {
    const char *arguments_json;     /* JSON array of the command line */
    const char *model_path;
    const char *model_hash;
    const char *model_name;         /* "model" of the JSONL output */
    const char *topology_plan_json; /* the placement plan, as JSON */
    double start_time;              /* this run (attempt), Unix epoch s */
    double end_time;                /* 0: now */
    int32_t tp_size, dp_size, world_size, nodes;
} sl_io_run_meta_t;

typedef struct sl_io_merge_opts {
    sl_io_run_meta_t meta;
    int complete;        /* every input record is committed: marks OUT complete */
    int remove_parts;    /* with complete: remove OUT.parts once OUT is durable */
    const char *jsonl_path; /* also write OpenAI batch JSONL here, or NULL */
} sl_io_merge_opts_t;

typedef struct sl_io_merge_stats {
    int64_t requests;      /* results (requests) */
    int64_t rows;          /* result rows (choices) */
    int64_t errors;
    int64_t steps;
    int64_t duplicates;    /* entries dropped as already merged */
    int64_t prompt_tokens, completion_tokens;
    int parts;
} sl_io_merge_stats_t;

/* STATS_P may be NULL. With no parts directory and an existing OUT (a
 * completed run merged before) nothing is done and SL_OK returned. */
sl_status_t sl_io_merge(const char *output_path, const sl_io_merge_opts_t *opts,
                        sl_io_merge_stats_t *stats_p);

#endif /* SL_IO_MERGE_H */
