/*
 * output.h - the on-disk layout of one run's output and its life cycle.
 *
 *   OUT                 the HDF5 result file (docs/OUTPUT.md); written only
 *                       by sl_io_merge(), as OUT.merge-tmp then rename(2), so
 *                       whoever opens OUT sees a complete file or none
 *   OUT.parts/          the truth while a run is in progress: MANIFEST.json
 *                       and one journal per DP group (writer.h, journal.h)
 *
 * Every node must see OUT's directory (a shared filesystem: NFS, Lustre,
 * GPFS, BeeGFS): each DP group leader appends to its own part there, and
 * rank 0 merges them into OUT.
 *
 * Life cycle: rank 0 calls sl_io_output_prepare() before any writer opens;
 * the writers commit; rank 0 calls sl_io_merge() at the end (and whenever a
 * readable snapshot is wanted); a complete run's merge removes OUT.parts.
 */
#ifndef SL_IO_OUTPUT_H
#define SL_IO_OUTPUT_H

#include <jansson.h>
#include <stddef.h>

#include "core/status.h"

typedef struct sl_io_output_opts {
    int resume;     /* --resume: continue what OUT / OUT.parts hold */
    int overwrite;  /* without resume: remove an existing OUT and OUT.parts */
    /* A JSON object of what must not change across a resume (e.g. the input
     * path and size, the model); stored in the manifest and compared, key by
     * key, with what a resumed run passes. NULL: nothing compared. Do not
     * put the DP size in it: a resume may change it. */
    const char *identity_json;
} sl_io_output_opts_t;

/*
 * Gets OUTPUT_PATH ready for writers. Without resume, an existing OUT or
 * OUT.parts is an error (SL_ERR_INVALID_ARG, naming it) unless overwrite.
 * With resume: existing parts are kept (a differing identity is
 * SL_ERR_MISMATCH, naming the keys); an OUT without parts (a merged run) is
 * imported into a new part so that the parts are again the whole truth;
 * nothing at all starts a fresh run. Leftovers of interrupted merges,
 * prepares and removals are cleaned up first. Run on one rank only.
 */
sl_status_t sl_io_output_prepare(const char *output_path, const sl_io_output_opts_t *opts);

/* OUTPUT_PATH + SUFFIX, malloc'd (".parts", ".merge-tmp", ...). */
char *sl_io_path_with(const char *output_path, const char *suffix);

/* fsync(2) of a directory, so that a rename or create in it is durable.
 * SL_ERR_IO (logged) on failure; EINVAL (filesystems that cannot) is fine. */
sl_status_t sl_io_fsync_dir(const char *dir);
/* The directory part of PATH ("." when none), malloc'd. */
char *sl_io_dirname(const char *path);
/* Writes DATA[LEN] to PATH.tmp, fsyncs it, renames it to PATH, fsyncs the
 * directory. */
sl_status_t sl_io_write_file_atomic(const char *path, const void *data, size_t len);
/* Removes DIR and the files in it (one level: parts hold no subfolders). */
sl_status_t sl_io_remove_dir(const char *dir);
/* Removes OUTPUT_PATH.parts all-or-nothing: renamed to .parts.removing
 * (which sl_io_output_prepare() finishes removing after a crash), then
 * deleted. */
sl_status_t sl_io_parts_remove(const char *output_path);

/* The part files of OUTPUT_PATH (full paths, sorted by name, malloc'd
 * array of malloc'd strings; free with sl_io_parts_free). No parts
 * directory: *N_P = 0 and SL_OK. */
sl_status_t sl_io_parts_list(const char *output_path, char ***paths_p, size_t *n_p);
void sl_io_parts_free(char **paths, size_t n);

/* Converts the merged result file OUTPUT_PATH into the part
 * DIR/part-import.slj, after checking IDENTITY_JSON (may be NULL) against
 * the identity stored in the file: what sl_io_output_prepare() does when a
 * merged run is resumed. *RECORDS_P: results plus error records imported. */
sl_status_t sl_io_output_import(const char *output_path, const char *dir,
                                const char *identity_json, size_t *records_p);

/* Compares GIVEN_JSON (an object, may be NULL) with STORED key by key;
 * keys missing on either side are not compared. Each difference is logged
 * (WHAT names the output) and gives SL_ERR_MISMATCH. */
sl_status_t sl_io_identity_check(const char *what, json_t *stored, const char *given_json);

/* The identity stored in OUT.parts/MANIFEST.json, malloc'd JSON ("{}" when
 * none); for the merge, which copies it into OUT. */
sl_status_t sl_io_output_identity(const char *output_path, char **identity_json_p);

#endif /* SL_IO_OUTPUT_H */
