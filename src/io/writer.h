/*
 * writer.h - a DP group's result writer: appends results, error records and
 * engine steps to the group's part file, in commits.
 *
 * A commit is the batch of entries added since the last one, written as one
 * journal frame (journal.h) and fsync'd before sl_io_writer_commit()
 * returns SL_OK. From then on the entries survive SIGKILL of any process
 * and are skipped by a resumed run; entries not yet committed when a
 * process dies are lost and their records run again. Commit every few
 * seconds or few hundred records: each commit costs one fsync.
 *
 * The part file is OUTPUT.parts/part-gGGGG-of-NNNN.slj; the directory must
 * have been made by sl_io_output_prepare() (output.h). Opening an existing
 * part (a resumed run with the same number of groups) cuts off a torn tail
 * left by a crash and appends after the last commit. A run with a different
 * number of groups writes new parts next to the old ones; the resume index
 * and the merge read them all.
 *
 * The writer holds an fcntl lock on its part, so a second writer of the same
 * part (two jobs on one output) fails instead of interleaving. One writer is
 * used by one thread at a time.
 */
#ifndef SL_IO_WRITER_H
#define SL_IO_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/record.h"

typedef struct sl_io_writer sl_io_writer_t;

typedef struct sl_io_writer_opts {
    int32_t group;     /* this DP group */
    int32_t ngroups;   /* DP size, >= 1 */
    const char *host;  /* recorded in the part header; NULL: gethostname() */
} sl_io_writer_opts_t;

/* Errors: SL_ERR_NOT_FOUND (no parts directory: prepare first), SL_ERR_IO,
 * SL_ERR_FORMAT (a damaged part, or one of other groups under this name),
 * SL_ERR_MISMATCH (another process holds the part), SL_ERR_INVALID_ARG. */
sl_status_t sl_io_writer_open(const char *output_path, const sl_io_writer_opts_t *opts,
                              sl_io_writer_t **writer_p);

/* Queue an entry for the next commit (copied; nothing is written yet).
 * Errors: SL_ERR_NO_MEMORY, SL_ERR_INVALID_ARG (a malformed result). */
sl_status_t sl_io_writer_add_result(sl_io_writer_t *writer, const sl_io_result_t *result);
sl_status_t sl_io_writer_add_error(sl_io_writer_t *writer, const sl_io_error_t *error);
sl_status_t sl_io_writer_add_step(sl_io_writer_t *writer, const sl_io_step_t *step);

/* Entries queued and not yet committed. */
size_t sl_io_writer_pending(const sl_io_writer_t *writer);

/* Makes the queued entries durable (nothing queued: no-op). On SL_ERR_IO
 * (logged: ENOSPC, EIO, ...) nothing of the commit remains in the file and
 * the entries stay queued, so the call may be retried. */
sl_status_t sl_io_writer_commit(sl_io_writer_t *writer);

typedef struct sl_io_writer_stats {
    uint64_t commits;          /* frames in the part, old and new */
    uint64_t results, errors, steps; /* entries committed, old and new */
    uint64_t bytes;            /* size of the part */
    uint64_t torn_bytes_cut;   /* cut off when opening */
} sl_io_writer_stats_t;
void sl_io_writer_stats(const sl_io_writer_t *writer, sl_io_writer_stats_t *stats);

/* The part file's path (owned by the writer). */
const char *sl_io_writer_path(const sl_io_writer_t *writer);

/* Commits what is queued (its status is returned) and closes. NULL is
 * allowed. Use sl_io_writer_discard() to close without committing. */
sl_status_t sl_io_writer_close(sl_io_writer_t *writer);
void sl_io_writer_discard(sl_io_writer_t *writer);

#endif /* SL_IO_WRITER_H */
