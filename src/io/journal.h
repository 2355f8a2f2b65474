/*
 * journal.h - the part file format: an append-only, checksummed journal of
 * commits, the durable truth from which the HDF5 result file is built.
 *
 * Layout (all integers little-endian):
 *
 *   file header   "SLINFJ01"  u32 version (1)  u32 json_len  u64 xxh3(json)
 *                 u64 xxh3(the 24 bytes before)  json_len bytes of JSON
 *                 {"group": g, "ngroups": n, "created": t, "slinfer": v, "host": h}
 *   frame*        u32 "SLFR"  u32 entries  u64 seq  u64 payload_len
 *                 u64 xxh3(payload)  u64 xxh3(the 32 bytes before)  payload
 *   payload       entry*: u8 type  u8[3] 0  u32 len  len bytes
 *
 * One frame is one commit: written with one write loop, then fsync'd; only
 * then does the writer report it committed. A SIGKILL (or power loss) can
 * therefore leave at most the last frame incomplete or unsynced; it fails
 * its checksums and is cut off by the part's next writer (a torn tail). A
 * bad frame followed by a valid frame header is corruption, not a torn
 * tail, and is refused rather than cut.
 *
 * Entry encodings (see journal.c): result (a request with its choices),
 * error record, engine step.
 */
#ifndef SL_IO_JOURNAL_H
#define SL_IO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "io/pack.h"
#include "io/record.h"

#define SL_IO_J_MAGIC "SLINFJ01"
#define SL_IO_J_VERSION 1u
#define SL_IO_J_FILE_HEADER 32u
#define SL_IO_J_FRAME_HEADER 40u
#define SL_IO_J_FRAME_MAGIC 0x52464C53u /* "SLFR" */
#define SL_IO_J_MAX_PAYLOAD (1ull << 32)  /* sanity cap on one commit */
#define SL_IO_J_MAX_HEADER_JSON (1u << 20)

typedef enum {
    SL_IO_ENTRY_RESULT = 1,
    SL_IO_ENTRY_ERROR = 2,
    SL_IO_ENTRY_STEP = 3,
} sl_io_entry_type_t;

/* ---- encoding ---------------------------------------------------------- */

/* The file header for HEADER_JSON into OUT. */
void sl_io_journal_put_header(sl_io_buf_t *out, const char *header_json);
/* Appends an entry to a frame payload being built. */
void sl_io_entry_put_result(sl_io_buf_t *payload, const sl_io_result_t *result);
void sl_io_entry_put_error(sl_io_buf_t *payload, const sl_io_error_t *error);
void sl_io_entry_put_step(sl_io_buf_t *payload, const sl_io_step_t *step);
/* The 40-byte frame header of PAYLOAD[LEN]. */
void sl_io_frame_header(unsigned char *hdr, uint32_t entries, uint64_t seq,
                        const unsigned char *payload, uint64_t len);

/* ---- decoding ---------------------------------------------------------- */

/* One decoded entry. Pointers refer to the payload (strings) or to the
 * decoder's own arrays (choices, ids, logprobs: copied out for alignment),
 * valid until the next decode into the same struct. */
typedef struct sl_io_entry {
    sl_io_entry_type_t type;
    sl_io_result_t result;
    sl_io_error_t error;  /* id and message point into the payload */
    sl_io_step_t step;
    /* decoder storage */
    sl_io_choice_t *choices;
    size_t choices_cap;
    int32_t *ids;
    float *lps;
    size_t ids_cap, lps_cap;
} sl_io_entry_t;

/* Decodes the entry of TYPE in P[LEN]. SL_ERR_FORMAT when it does not
 * decode exactly (not logged: the caller names the file and offset). */
sl_status_t sl_io_entry_decode(int type, const unsigned char *p, size_t len,
                               sl_io_entry_t *entry);
void sl_io_entry_clear(sl_io_entry_t *entry);

/* The record index of an encoded result or error entry (both start with
 * it), -1 for other entries or a short one. */
int64_t sl_io_entry_index(int type, const unsigned char *p, size_t len);

/* ---- scanning a part file ---------------------------------------------- */

typedef struct sl_io_jscan sl_io_jscan_t;

/* Opens PATH read-only (FD >= 0: use that descriptor instead, not closed by
 * the scan) and checks the file header. *HEADER_JSON_P: the header's JSON
 * (owned by the scan). Errors: SL_ERR_IO, SL_ERR_FORMAT (bad header). */
sl_status_t sl_io_jscan_open(const char *path, int fd, sl_io_jscan_t **scan_p,
                             const char **header_json_p);

/*
 * The next committed frame: *PAYLOAD_P (valid until the next call), its
 * length and entry count. *PAYLOAD_P = NULL at the end of the valid frames
 * (a torn tail, if any, is then described by sl_io_jscan_end()).
 * Errors: SL_ERR_IO, SL_ERR_FORMAT (corruption before the tail, logged).
 */
sl_status_t sl_io_jscan_next(sl_io_jscan_t *scan, const unsigned char **payload_p,
                             size_t *len_p, uint32_t *entries_p);

/* After the last frame: the offset where the valid frames end, the file
 * size (bytes beyond are the torn tail) and the last frame's seq (0: none). */
void sl_io_jscan_end(const sl_io_jscan_t *scan, uint64_t *valid_end_p, uint64_t *file_size_p,
                     uint64_t *last_seq_p);
void sl_io_jscan_close(sl_io_jscan_t *scan);

/* What sl_io_journal_walk() found. */
typedef struct sl_io_walk_info {
    char *header_json;   /* malloc'd copy of the part header's JSON */
    uint64_t commits;    /* valid frames */
    uint64_t valid_end;  /* where they end */
    uint64_t file_size;  /* bytes beyond valid_end are a torn tail */
    uint64_t last_seq;   /* of the last valid frame, 0: none */
} sl_io_walk_info_t;

/* Called for each entry of each committed frame, in order; a status other
 * than SL_OK stops the walk and is returned. */
typedef sl_status_t (*sl_io_entry_fn)(void *ctx, int type, const unsigned char *p, size_t len);

/*
 * Scans part PATH (FD >= 0: through that descriptor) and calls FN (may be
 * NULL) for every entry of every committed frame. *INFO (may be NULL; its
 * header_json is the caller's to free) describes the part. Errors: those of
 * the scan, SL_ERR_FORMAT for a valid frame holding malformed entries, or
 * FN's.
 */
sl_status_t sl_io_journal_walk(const char *path, int fd, sl_io_entry_fn fn, void *ctx,
                               sl_io_walk_info_t *info);

/* Walks the entries of a frame payload: *TYPE_P, *P_P, *LEN_P of the entry
 * at *POS, advancing it. 0 at the end, 1 for an entry, -1 if malformed. */
int sl_io_payload_next(const unsigned char *payload, size_t len, size_t *pos, int *type_p,
                       const unsigned char **p_p, size_t *len_p);

#endif /* SL_IO_JOURNAL_H */
