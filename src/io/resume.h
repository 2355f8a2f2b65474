/*
 * resume.h - the resume index: the set of record indices whose results or
 * error records are committed, so a resumed run skips exactly those.
 *
 * A bitmap over record indices (one bit per input record: 250 KB for two
 * million), built by scanning the committed frames of every part file of
 * an output (see output.h), read-only: torn tails are ignored here and cut
 * off by the writer that owns the part. Rank 0 loads it and broadcasts the
 * serialized form; every DP group leader passes it to its reader as `skip`.
 */
#ifndef SL_IO_RESUME_H
#define SL_IO_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_io_resume sl_io_resume_t;

/* An empty index. */
sl_status_t sl_io_resume_create(sl_io_resume_t **resume_p);
void sl_io_resume_destroy(sl_io_resume_t *resume);

/* Adds INDEX (>= 0); *ADDED_P (may be NULL) = 0 when it was already there. */
sl_status_t sl_io_resume_add(sl_io_resume_t *resume, int64_t index, int *added_p);
/* 1 when INDEX is committed. RESUME NULL: 0. */
int sl_io_resume_contains(const sl_io_resume_t *resume, int64_t index);
int64_t sl_io_resume_count(const sl_io_resume_t *resume);

/*
 * Builds the index of OUTPUT_PATH from its part files (OUTPUT_PATH.parts/).
 * No parts directory gives an empty index. Corrupt committed frames (not a
 * torn tail) are SL_ERR_FORMAT, logged with the part and offset. Also
 * counts, in *DUPLICATES_P (may be NULL), indices committed more than once
 * (0 unless something is badly wrong).
 */
sl_status_t sl_io_resume_load(const char *output_path, sl_io_resume_t **resume_p,
                              int64_t *duplicates_p);

/* A flat little-endian form for a broadcast: malloc'd, caller frees. */
sl_status_t sl_io_resume_serialize(const sl_io_resume_t *resume, void **buf_p, size_t *len_p);
sl_status_t sl_io_resume_deserialize(const void *buf, size_t len, sl_io_resume_t **resume_p);

#endif /* SL_IO_RESUME_H */
