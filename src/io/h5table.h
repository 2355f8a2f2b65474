/*
 * h5table.h - columns of the HDF5 result file: 1-D chunked, extendible,
 * compressed datasets appended to in buffered blocks, and the enum types
 * the file uses. A "ragged" column (texts, ids, token lists) is two
 * datasets: NAME (every row's elements concatenated) and NAME_offsets
 * (rows + 1 uint64 entries starting at 0: row i is NAME[off[i]:off[i+1]]).
 * Variable-length HDF5 types are avoided on purpose: HDF5 cannot compress
 * them, and they are slow to read from h5py.
 */
#ifndef SL_IO_H5TABLE_H
#define SL_IO_H5TABLE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_io_h5col {
    const char *file;      /* for messages */
    char name[64];
    hid_t dset;
    hid_t mtype;           /* native type of the buffer */
    size_t elem;           /* bytes per element */
    unsigned char *buf;    /* [cap * elem] */
    size_t n, cap;         /* buffered elements; flushed at cap */
    uint64_t written;      /* elements in the dataset */
    uint64_t total;        /* written + buffered (a ragged column's next offset) */
} sl_io_h5col_t;

/* Enum types of the file (H5Tclose them): the names of record.h. */
hid_t sl_io_h5_enum_status(void);
hid_t sl_io_h5_enum_finish(void);
hid_t sl_io_h5_enum_endpoint(void);
hid_t sl_io_h5_enum_error_code(void);

/*
 * Creates dataset NAME in GROUP: file type FTYPE, elements appended from
 * memory type MTYPE (ELEM bytes), chunks of CHUNK elements, shuffle +
 * deflate level 4. DOC becomes its "description" attribute.
 */
sl_status_t sl_io_h5col_create(sl_io_h5col_t *col, hid_t group, const char *file,
                               const char *name, hid_t ftype, hid_t mtype, size_t elem,
                               size_t chunk, const char *doc);
/* Appends N elements from V. */
sl_status_t sl_io_h5col_append(sl_io_h5col_t *col, const void *v, size_t n);
/* Writes what is buffered and closes the dataset (also on error paths:
 * then returns the first error). Safe on a zeroed or closed column. */
sl_status_t sl_io_h5col_finish(sl_io_h5col_t *col);

/* Reads COUNT elements from START of dataset NAME in GROUP as MTYPE into
 * BUF (any 1-D dataset). */
sl_status_t sl_io_h5_read_range(hid_t dset, const char *file, const char *name, hid_t mtype,
                                uint64_t start, uint64_t count, void *buf);
/* The length of 1-D dataset DSET. */
sl_status_t sl_io_h5_length(hid_t dset, const char *file, const char *name, uint64_t *len_p);

#endif /* SL_IO_H5TABLE_H */
