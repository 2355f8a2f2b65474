/*
 * h5util.h - HDF5 plumbing shared by the HDF5 reader, the result file
 * writer and its reader: error reporting in slinfer's own log, file access
 * settings for shared filesystems, and typed attributes.
 *
 * HDF5 prints its error stack to stderr by default; sl_io_h5_init() turns
 * that off for the whole process (the I/O layer is its only HDF5 user) and
 * every failing H5* call is reported once through sl_io_h5_fail(), which
 * logs the innermost description from the stack and clears it.
 */
#ifndef SL_IO_H5UTIL_H
#define SL_IO_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "core/status.h"

/* Idempotent; call before any other HDF5 use. */
void sl_io_h5_init(void);

/* Logs "FILE: WHAT: <HDF5's reason>" and returns SL_ERR_HDF5. */
sl_status_t sl_io_h5_fail(const char *file, const char *what, ...)
    __attribute__((format(printf, 2, 3)));

/* A file access property list without HDF5's file locking, which fails on
 * NFS and Lustre mounts without flock (ignored where unsupported). The
 * caller closes it. Negative on failure (logged). */
hid_t sl_io_h5_fapl(const char *file);

/* Scalar attributes on OBJ. Strings are fixed-length UTF-8 (readable by
 * h5dump and by h5py as bytes/str). Return SL_ERR_HDF5 (logged). */
sl_status_t sl_io_h5_attr_str(hid_t obj, const char *file, const char *name, const char *value);
sl_status_t sl_io_h5_attr_i64(hid_t obj, const char *file, const char *name, int64_t value);
sl_status_t sl_io_h5_attr_f64(hid_t obj, const char *file, const char *name, double value);

/* A scalar fixed-length UTF-8 string dataset (for texts too large for an
 * attribute, such as JSON documents). */
sl_status_t sl_io_h5_scalar_str(hid_t loc, const char *file, const char *name,
                                const char *value);

/* Reads a string attribute or scalar string dataset (fixed or variable
 * length) of OBJ into a malloc'd NUL-terminated string. */
sl_status_t sl_io_h5_read_str(hid_t obj, const char *file, const char *name, int is_attr,
                              char **value_p);
sl_status_t sl_io_h5_read_attr_i64(hid_t obj, const char *file, const char *name,
                                   int64_t *value_p);
sl_status_t sl_io_h5_read_attr_f64(hid_t obj, const char *file, const char *name,
                                   double *value_p);

#endif /* SL_IO_H5UTIL_H */
