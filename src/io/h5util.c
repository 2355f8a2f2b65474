/* h5util.c - HDF5 error reporting, access settings and attributes; see
 * h5util.h. */
#include "config.h"

#include "io/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void sl_io_h5_init(void)
{
    static int done;

    if (done)
        return;
    /* H5open fails only when the library cannot initialize at all; the
     * first real call then reports it */
    (void)H5open();
    (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
}

typedef struct {
    char innermost[256];
    char api[64];
    int n;
} sl_io_h5_walk_t;

static herr_t sl_io_h5_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    sl_io_h5_walk_t *w = data;
    char minor[128] = "";

    if (n == 0) {
        if (H5Eget_msg(e->min_num, NULL, minor, sizeof(minor)) < 0)
            minor[0] = '\0';
        snprintf(w->innermost, sizeof(w->innermost), "%s%s%s%s",
                 e->desc != NULL ? e->desc : "", minor[0] ? " (" : "", minor,
                 minor[0] ? ")" : "");
    }
    snprintf(w->api, sizeof(w->api), "%s", e->func_name != NULL ? e->func_name : "?");
    w->n++;
    return 0;
}

sl_status_t sl_io_h5_fail(const char *file, const char *what, ...)
{
    char text[512];
    sl_io_h5_walk_t w;
    va_list ap;

    va_start(ap, what);
    vsnprintf(text, sizeof(text), what, ap);
    va_end(ap);
    memset(&w, 0, sizeof(w));
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, sl_io_h5_walk, &w);
    (void)H5Eclear2(H5E_DEFAULT);
    if (w.n > 0)
        sl_error("%s: %s: HDF5 %s: %s", file, text, w.api, w.innermost);
    else
        sl_error("%s: %s: HDF5 error", file, text);
    return SL_ERR_HDF5;
}

hid_t sl_io_h5_fapl(const char *file)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

    if (fapl < 0) {
        sl_io_h5_fail(file, "creating a file access property list");
        return -1;
    }
#if H5_VERSION_GE(1, 10, 7)
    if (H5Pset_file_locking(fapl, 0, 1) < 0) {
        sl_io_h5_fail(file, "turning file locking off");
        H5Pclose(fapl);
        return -1;
    }
#endif
    /* older HDF5: HDF5_USE_FILE_LOCKING=FALSE in the environment does it */
    return fapl;
}

/* A fixed-length UTF-8 string type for VALUE (at least 1 byte: HDF5 has no
 * zero-length strings; the empty string is stored as one NUL). */
static hid_t sl_io_h5_str_type(const char *file, size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);

    if (t < 0 || H5Tset_size(t, len > 0 ? len : 1) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
        sl_io_h5_fail(file, "creating a string type of %zu bytes", len);
        if (t >= 0)
            H5Tclose(t);
        return -1;
    }
    return t;
}

/* Writes a scalar attribute (IS_ATTR) or dataset NAME of TYPE from BUF. */
static sl_status_t sl_io_h5_scalar(hid_t obj, const char *file, const char *name, int is_attr,
                                   hid_t type, const void *buf)
{
    hid_t space = H5Screate(H5S_SCALAR), o = -1;
    sl_status_t st = SL_OK;

    if (space < 0)
        return sl_io_h5_fail(file, "creating a scalar dataspace for %s", name);
    if (is_attr)
        o = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    else
        o = H5Dcreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (o < 0) {
        st = sl_io_h5_fail(file, "creating %s %s", is_attr ? "attribute" : "dataset", name);
        goto err_space;
    }
    if ((is_attr ? H5Awrite(o, type, buf) : H5Dwrite(o, type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                                     buf)) < 0)
        st = sl_io_h5_fail(file, "writing %s", name);
    if ((is_attr ? H5Aclose(o) : H5Dclose(o)) < 0 && st == SL_OK)
        st = sl_io_h5_fail(file, "closing %s", name);
err_space:
    H5Sclose(space);
    return st;
}

static sl_status_t sl_io_h5_str(hid_t obj, const char *file, const char *name, int is_attr,
                                const char *value)
{
    size_t len = strlen(value);
    hid_t t = sl_io_h5_str_type(file, len);
    sl_status_t st;

    if (t < 0)
        return SL_ERR_HDF5;
    /* the empty string: write one NUL byte, which NULLPAD reads back as "" */
    st = sl_io_h5_scalar(obj, file, name, is_attr, t, len > 0 ? value : "");
    H5Tclose(t);
    return st;
}

sl_status_t sl_io_h5_attr_str(hid_t obj, const char *file, const char *name, const char *value)
{
    return sl_io_h5_str(obj, file, name, 1, value != NULL ? value : "");
}

sl_status_t sl_io_h5_scalar_str(hid_t loc, const char *file, const char *name, const char *value)
{
    return sl_io_h5_str(loc, file, name, 0, value != NULL ? value : "");
}

sl_status_t sl_io_h5_attr_i64(hid_t obj, const char *file, const char *name, int64_t value)
{
    return sl_io_h5_scalar(obj, file, name, 1, H5T_NATIVE_INT64, &value);
}

sl_status_t sl_io_h5_attr_f64(hid_t obj, const char *file, const char *name, double value)
{
    return sl_io_h5_scalar(obj, file, name, 1, H5T_NATIVE_DOUBLE, &value);
}

sl_status_t sl_io_h5_read_str(hid_t obj, const char *file, const char *name, int is_attr,
                              char **value_p)
{
    hid_t o = is_attr ? H5Aopen(obj, name, H5P_DEFAULT) : H5Dopen2(obj, name, H5P_DEFAULT);
    hid_t ftype = -1, mtype = -1;
    char *value = NULL;
    sl_status_t st = SL_OK;
    htri_t vlen;

    if (o < 0)
        return sl_io_h5_fail(file, "opening %s", name);
    ftype = is_attr ? H5Aget_type(o) : H5Dget_type(o);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        st = ftype < 0 ? sl_io_h5_fail(file, "type of %s", name) : SL_ERR_FORMAT;
        if (st == SL_ERR_FORMAT)
            sl_error("%s: %s is not a string", file, name);
        goto err_o;
    }
    vlen = H5Tis_variable_str(ftype);
    mtype = H5Tcopy(H5T_C_S1);
    /* HDF5 converts no string between character sets: read in the file's */
    if (vlen < 0 || mtype < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
        st = sl_io_h5_fail(file, "string type of %s", name);
        goto err_o;
    }
    if (vlen) {
        char *p = NULL;
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
            (is_attr ? H5Aread(o, mtype, &p) : H5Dread(o, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                                       &p)) < 0) {
            st = sl_io_h5_fail(file, "reading %s", name);
            goto err_o;
        }
        value = strdup(p != NULL ? p : "");
        H5free_memory(p);
    } else {
        size_t size = H5Tget_size(ftype);
        value = calloc(size + 1, 1);
        /* NULLPAD: all SIZE bytes are text (NULLTERM would drop the last) */
        if (value == NULL || H5Tset_size(mtype, size) < 0 ||
            H5Tset_strpad(mtype, H5T_STR_NULLPAD) < 0 ||
            (is_attr ? H5Aread(o, mtype, value) : H5Dread(o, mtype, H5S_ALL, H5S_ALL,
                                                           H5P_DEFAULT, value)) < 0) {
            st = value == NULL ? SL_ERR_NO_MEMORY : sl_io_h5_fail(file, "reading %s", name);
            goto err_o;
        }
    }
    if (value == NULL) {
        st = SL_ERR_NO_MEMORY;
        goto err_o;
    }
    H5Tclose(mtype);
    H5Tclose(ftype);
    (void)(is_attr ? H5Aclose(o) : H5Dclose(o));
    *value_p = value;
    return SL_OK;
err_o:
    if (st == SL_ERR_NO_MEMORY)
        sl_error("%s: out of memory reading %s", file, name);
    free(value);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    (void)(is_attr ? H5Aclose(o) : H5Dclose(o));
    return st;
}

static sl_status_t sl_io_h5_read_attr(hid_t obj, const char *file, const char *name, hid_t type,
                                      void *buf)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    sl_status_t st = SL_OK;

    if (a < 0)
        return sl_io_h5_fail(file, "opening attribute %s", name);
    if (H5Aread(a, type, buf) < 0)
        st = sl_io_h5_fail(file, "reading attribute %s", name);
    H5Aclose(a);
    return st;
}

sl_status_t sl_io_h5_read_attr_i64(hid_t obj, const char *file, const char *name,
                                   int64_t *value_p)
{
    int64_t v;
    sl_status_t st = sl_io_h5_read_attr(obj, file, name, H5T_NATIVE_INT64, &v);

    if (st == SL_OK)
        *value_p = v;
    return st;
}

sl_status_t sl_io_h5_read_attr_f64(hid_t obj, const char *file, const char *name,
                                   double *value_p)
{
    double v;
    sl_status_t st = sl_io_h5_read_attr(obj, file, name, H5T_NATIVE_DOUBLE, &v);

    if (st == SL_OK)
        *value_p = v;
    return st;
}
