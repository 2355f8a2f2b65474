/*
 * reader.h - streaming prompt readers: JSONL (OpenAI batch lines and plain
 * lines) and HDF5 datasets, each yielding one data-parallel group's share.
 *
 * Input address (the --input argument):
 *   FILE            JSONL, unless FILE ends in .h5 or .hdf5 (or starts with
 *                   the HDF5 signature), then HDF5 with dataset "/prompts"
 *                   (or "/input_ids" when there is no "/prompts")
 *   FILE:/PATH      HDF5, object PATH in FILE (split at the last ":/")
 *   -               JSONL from standard input
 *
 * JSONL: one JSON object per line (see docs/OUTPUT.md "Input"), read in
 * 1 MiB blocks; memory is bounded by the longest line (lines above
 * max_line_bytes become line_too_long error records) plus the id set
 * (about 16 bytes per record, see idset.h), whatever the file size.
 *
 * Data parallelism: record k belongs to group k % ngroups. Every reader
 * reads and parses every record, so ids, duplicate detection and error
 * records are the same whatever ngroups is, and yields only its group's
 * records (requests and error records alike). Records in SKIP (the resume
 * index) are read, counted for duplicates, and not yielded.
 *
 * One reader is used by one thread at a time.
 */
#ifndef SL_IO_READER_H
#define SL_IO_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/record.h"
#include "io/resume.h"

typedef struct sl_io_reader sl_io_reader_t;

#define SL_IO_DEFAULT_MAX_LINE (64u << 20)

typedef struct sl_io_reader_opts {
    int32_t group;          /* 0 <= group < ngroups */
    int32_t ngroups;        /* >= 1; 0 is taken as 1 */
    size_t max_line_bytes;  /* JSONL; 0 = SL_IO_DEFAULT_MAX_LINE */
    const sl_io_resume_t *skip; /* committed records, or NULL; not copied */
} sl_io_reader_opts_t;

/*
 * Opens SPEC (see above). OPTS may be NULL (group 0 of 1, nothing skipped).
 * Errors: SL_ERR_NOT_FOUND / SL_ERR_IO (open), SL_ERR_HDF5, SL_ERR_FORMAT
 * (an HDF5 object that is not a prompt dataset), SL_ERR_INVALID_ARG.
 */
sl_status_t sl_io_reader_open(const char *spec, const sl_io_reader_opts_t *opts,
                              sl_io_reader_t **reader_p);

/*
 * The next record of this reader's group: a request, or an error record for
 * a bad line. *RECORD_P is NULL at the end of the input. A bad record never
 * fails this call; only a failure to read the file does (SL_ERR_IO,
 * SL_ERR_HDF5, SL_ERR_NO_MEMORY), after which the reader is unusable.
 */
sl_status_t sl_io_reader_next(sl_io_reader_t *reader, sl_io_record_t **record_p);

/* Counters so far, over all groups. */
typedef struct sl_io_reader_stats {
    int64_t records;     /* record indices handed out (non-blank lines, rows) */
    int64_t lines;       /* physical lines (JSONL) */
    int64_t blank_lines;
    int64_t skipped;     /* this group's records skipped as committed */
    int64_t yielded;     /* this group's records returned */
    int64_t errors;      /* of those, error records */
    size_t id_set_bytes; /* memory of the duplicate detector */
} sl_io_reader_stats_t;
void sl_io_reader_stats(const sl_io_reader_t *reader, sl_io_reader_stats_t *stats);

void sl_io_reader_close(sl_io_reader_t *reader);

/*
 * The number of records in SPEC (non-blank JSONL lines, HDF5 rows) without
 * parsing them, for a progress bar's total. One pass over a JSONL file.
 */
sl_status_t sl_io_count_records(const char *spec, int64_t *count_p);

/* Splits SPEC into a file and an HDF5 object path (NULL for JSONL), both
 * malloc'd. *IS_HDF5_P says which reader SPEC selects. */
sl_status_t sl_io_input_parse(const char *spec, char **file_p, char **object_p, int *is_hdf5_p);

#endif /* SL_IO_READER_H */
