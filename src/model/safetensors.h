/*
 * safetensors.h - read-only access to .safetensors files, validated before use.
 *
 * Layout of the format: an 8-byte little-endian header length N, N bytes of
 * JSON {"NAME": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {"k": "v"}}, then the data section; offsets are relative to
 * its start.
 *
 * Everything in a file is treated as hostile until checked: N is capped at
 * SL_ST_MAX_HEADER and must fit in the file; the JSON must be well formed,
 * without duplicate names; every tensor needs a known dtype, at most
 * SL_ST_MAX_DIMS non-negative dimensions and offsets with b <= e inside the
 * data section; dtype x shape must equal e - b (overflow-checked); the tensors,
 * in offset order, must not overlap and must cover the data section with no
 * hole (as the reference implementation requires). Nothing is allocated from
 * a size read from the file before it has passed these checks; the only
 * allocations are the tensor table (one entry per JSON member, so bounded by
 * N) and the names.
 *
 * Every failure is logged once, naming the file and, where there is one, the
 * tensor.
 */
#ifndef SL_MODEL_SAFETENSORS_H
#define SL_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "model/dtype.h"

#define SL_ST_MAX_DIMS 8
/* The reference implementation's limit on the header length. */
#define SL_ST_MAX_HEADER 100000000u

typedef struct sl_st_tensor {
    char *name;
    sl_dtype_t dtype;
    int ndim;
    uint64_t shape[SL_ST_MAX_DIMS]; /* [ndim] */
    uint64_t numel;                 /* product of shape (1 for a scalar) */
    uint64_t begin, end;            /* byte range in the data section */
} sl_st_tensor_t;

typedef struct sl_st_file {
    char *path;                  /* for messages */
    const unsigned char *base;   /* [size] the whole file */
    size_t size;
    const unsigned char *data;   /* [data_size] the data section */
    size_t data_size;
    size_t num_tensors;
    sl_st_tensor_t *tensors;     /* [num_tensors] sorted by name */
    int mapped;                  /* base is our mmap: unmap on close */
} sl_st_file_t;

/*
 * Validates BUF (the SIZE bytes of a whole safetensors file) and builds the
 * tensor table. PATH names the file in messages. BUF is not copied: it must
 * outlive the result, which the caller frees with sl_st_close() (that does not
 * free BUF). This is what the fuzz target calls.
 * Errors: SL_ERR_FORMAT (malformed), SL_ERR_NO_MEMORY.
 */
sl_status_t sl_st_parse(const char *path, const void *buf, size_t size, sl_st_file_t **file_p);

/*
 * Maps PATH read-only and validates it as sl_st_parse() does. Pages are read
 * only when a tensor's bytes are touched, so a TP rank that reads only its
 * shard reads only (the pages of) its shard.
 * Errors: SL_ERR_IO / SL_ERR_NOT_FOUND (open, fstat, mmap: errno logged),
 * SL_ERR_FORMAT, SL_ERR_NO_MEMORY.
 */
sl_status_t sl_st_open(const char *path, sl_st_file_t **file_p);

/* Unmaps (if mapped) and frees. NULL is allowed. */
void sl_st_close(sl_st_file_t *file);

/* The tensor called NAME, or NULL. */
const sl_st_tensor_t *sl_st_find(const sl_st_file_t *file, const char *name);

/* First byte of TENSOR's data (in FILE's mapping). */
static inline const void *sl_st_tensor_data(const sl_st_file_t *file,
                                            const sl_st_tensor_t *tensor)
{
    return file->data + tensor->begin;
}

/* Writes "[d0, d1, ...]" into BUF (always terminated); returns BUF. */
char *sl_st_shape_string(const uint64_t *shape, int ndim, char *buf, size_t len);

/* ---- writing -------------------------------------------------------------- */

typedef struct sl_st_out_tensor {
    const char *name;
    sl_dtype_t dtype;
    int ndim;
    uint64_t shape[SL_ST_MAX_DIMS];
    const void *data; /* [numel * dtype size] bytes */
} sl_st_out_tensor_t;

/*
 * Writes a safetensors file at PATH with the N tensors in the given order and
 * {"format": "pt"} as metadata; the header is padded with spaces to a multiple
 * of 8 bytes so that the data section is aligned. The file is written to
 * PATH.tmp and renamed, so PATH is either complete or untouched.
 * Errors: SL_ERR_INVALID_ARG (bad shape/dtype), SL_ERR_OVERFLOW, SL_ERR_IO,
 * SL_ERR_NO_MEMORY.
 */
sl_status_t sl_st_write(const char *path, const sl_st_out_tensor_t *tensors, size_t n);

#endif /* SL_MODEL_SAFETENSORS_H */
