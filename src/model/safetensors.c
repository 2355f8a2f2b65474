/* safetensors.c - parsing and validating safetensors files; see safetensors.h. */
#include "config.h"

#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

char *sl_st_shape_string(const uint64_t *shape, int ndim, char *buf, size_t len)
{
    size_t used = 0;
    int n;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    n = snprintf(buf, len, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && used < len; i++) {
        n = snprintf(buf + used, len - used, "%s%" PRIu64, i > 0 ? ", " : "", shape[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

/* A JSON integer that is >= 0; jansson already refused those beyond int64. */
static int sl_st_get_uint(const json_t *value, uint64_t *out_p)
{
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return -1;
    *out_p = (uint64_t)json_integer_value(value);
    return 0;
}

/* Fills T from the JSON object INFO of the tensor NAME; checks it against the
 * data section size. */
static sl_status_t sl_st_parse_tensor(const char *path, const char *name, json_t *info,
                                      size_t data_size, sl_st_tensor_t *t)
{
    json_t *dtype = json_object_get(info, "dtype");
    json_t *shape = json_object_get(info, "shape");
    json_t *offsets = json_object_get(info, "data_offsets");
    uint64_t elem_size, bytes;

    if (!json_is_object(info)) {
        sl_error("%s: tensor '%s': header entry is not a JSON object", path, name);
        return SL_ERR_FORMAT;
    }
    if (!json_is_string(dtype)) {
        sl_error("%s: tensor '%s': \"dtype\" is missing or not a string", path, name);
        return SL_ERR_FORMAT;
    }
    t->dtype = sl_dtype_from_name(json_string_value(dtype));
    if (t->dtype == SL_DTYPE_INVALID) {
        sl_error("%s: tensor '%s': unknown dtype '%s'", path, name, json_string_value(dtype));
        return SL_ERR_FORMAT;
    }
    if (!json_is_array(shape)) {
        sl_error("%s: tensor '%s': \"shape\" is missing or not an array", path, name);
        return SL_ERR_FORMAT;
    }
    if (json_array_size(shape) > SL_ST_MAX_DIMS) {
        sl_error("%s: tensor '%s': %zu dimensions, at most %d are supported", path, name,
                 json_array_size(shape), SL_ST_MAX_DIMS);
        return SL_ERR_FORMAT;
    }
    t->ndim = (int)json_array_size(shape);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (sl_st_get_uint(json_array_get(shape, (size_t)i), &t->shape[i]) != 0) {
            sl_error("%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, i);
            return SL_ERR_FORMAT;
        }
        if (__builtin_mul_overflow(t->numel, t->shape[i], &t->numel)) {
            sl_error("%s: tensor '%s': the element count of its shape overflows 64 bits", path,
                     name);
            return SL_ERR_FORMAT;
        }
    }
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        sl_st_get_uint(json_array_get(offsets, 0), &t->begin) != 0 ||
        sl_st_get_uint(json_array_get(offsets, 1), &t->end) != 0) {
        sl_error("%s: tensor '%s': \"data_offsets\" must be two non-negative integers", path,
                 name);
        return SL_ERR_FORMAT;
    }
    if (t->begin > t->end || t->end > data_size) {
        sl_error("%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                 "] out of range of the %zu-byte data section",
                 path, name, t->begin, t->end, data_size);
        return SL_ERR_FORMAT;
    }
    elem_size = sl_dtype_size(t->dtype);
    if (__builtin_mul_overflow(t->numel, elem_size, &bytes) || bytes != t->end - t->begin) {
        char sbuf[160];
        sl_error("%s: tensor '%s': %s %s needs %" PRIu64 " x %" PRIu64
                 " bytes but data_offsets span %" PRIu64,
                 path, name, sl_dtype_name(t->dtype),
                 sl_st_shape_string(t->shape, t->ndim, sbuf, sizeof(sbuf)), t->numel, elem_size,
                 t->end - t->begin);
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

static int sl_st_cmp_offset(const void *a, const void *b)
{
    const sl_st_tensor_t *const *x = a, *const *y = b;
    if ((*x)->begin != (*y)->begin)
        return (*x)->begin < (*y)->begin ? -1 : 1;
    if ((*x)->end != (*y)->end)
        return (*x)->end < (*y)->end ? -1 : 1;
    return 0;
}

static int sl_st_cmp_name(const void *a, const void *b)
{
    const sl_st_tensor_t *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* In offset order the tensors must tile the data section exactly. */
static sl_status_t sl_st_check_layout(sl_st_file_t *f)
{
    sl_st_tensor_t **order;
    uint64_t end = 0;
    const char *prev = NULL;
    sl_status_t status = SL_OK;

    if (f->num_tensors == 0) {
        if (f->data_size != 0) {
            sl_error("%s: %zu bytes of data but no tensors in the header", f->path, f->data_size);
            return SL_ERR_FORMAT;
        }
        return SL_OK;
    }
    order = malloc(f->num_tensors * sizeof(*order));
    if (order == NULL) {
        sl_error("%s: out of memory sorting %zu tensors", f->path, f->num_tensors);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < f->num_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->num_tensors, sizeof(*order), sl_st_cmp_offset);
    for (size_t i = 0; i < f->num_tensors; i++) {
        const sl_st_tensor_t *t = order[i];
        if (t->begin < end) {
            sl_error("%s: tensor '%s' (bytes %" PRIu64 "..%" PRIu64
                     ") overlaps tensor '%s' (ending at %" PRIu64 ")",
                     f->path, t->name, t->begin, t->end, prev, end);
            status = SL_ERR_FORMAT;
            goto out;
        }
        if (t->begin > end) {
            sl_error("%s: %" PRIu64 " bytes before tensor '%s' belong to no tensor", f->path,
                     t->begin - end, t->name);
            status = SL_ERR_FORMAT;
            goto out;
        }
        end = t->end;
        prev = t->name;
    }
    if (end != f->data_size) {
        sl_error("%s: %" PRIu64 " bytes after the last tensor '%s' belong to no tensor", f->path,
                 (uint64_t)f->data_size - end, prev);
        status = SL_ERR_FORMAT;
    }
out:
    free(order);
    return status;
}

static sl_status_t sl_st_check_metadata(const char *path, json_t *meta)
{
    const char *key;
    json_t *value;

    if (!json_is_object(meta)) {
        sl_error("%s: \"__metadata__\" is not a JSON object", path);
        return SL_ERR_FORMAT;
    }
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value)) {
            sl_error("%s: \"__metadata__\" value of '%s' is not a string", path, key);
            return SL_ERR_FORMAT;
        }
    }
    return SL_OK;
}

/* Reads and checks the 8-byte header length; returns it in *len_p. */
static sl_status_t sl_st_header_length(const char *path, const unsigned char *buf, size_t size,
                                       uint64_t *len_p)
{
    uint64_t n = 0;

    if (size < 8) {
        sl_error("%s: %zu bytes, too short for the 8-byte header length (truncated file?)",
                 path, size);
        return SL_ERR_FORMAT;
    }
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | buf[i];
    if (n > SL_ST_MAX_HEADER) {
        sl_error("%s: header length %" PRIu64 " exceeds the limit of %u bytes", path, n,
                 SL_ST_MAX_HEADER);
        return SL_ERR_FORMAT;
    }
    if (n > size - 8) {
        sl_error("%s: header length %" PRIu64 " runs past the end of the %zu-byte file "
                 "(truncated file?)",
                 path, n, size);
        return SL_ERR_FORMAT;
    }
    if (n < 2 || buf[8] != '{') {
        sl_error("%s: the header does not start with '{': not a safetensors file", path);
        return SL_ERR_FORMAT;
    }
    *len_p = n;
    return SL_OK;
}

sl_status_t sl_st_parse(const char *path, const void *buf, size_t size, sl_st_file_t **file_p)
{
    const unsigned char *bytes = buf;
    sl_st_file_t *f;
    json_t *root;
    json_error_t jerr;
    uint64_t header_len;
    sl_status_t status;
    const char *key;
    json_t *value;

    status = sl_st_header_length(path, bytes, size, &header_len);
    if (status != SL_OK)
        return status;
    root = json_loadb((const char *)bytes + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        sl_error("%s: header is not valid JSON: %s (line %d, column %d)", path, jerr.text,
                 jerr.line, jerr.column);
        return SL_ERR_FORMAT;
    }
    if (!json_is_object(root)) {
        sl_error("%s: header is not a JSON object", path);
        status = SL_ERR_FORMAT;
        goto err_root;
    }

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        status = SL_ERR_NO_MEMORY;
        goto err_nomem;
    }
    f->path = strdup(path);
    /* One entry per member: bounded by the (capped) header length. */
    f->tensors = calloc(json_object_size(root) + 1, sizeof(*f->tensors));
    if (f->path == NULL || f->tensors == NULL) {
        status = SL_ERR_NO_MEMORY;
        goto err_file;
    }
    f->base = bytes;
    f->size = size;
    f->data = bytes + 8 + header_len;
    f->data_size = size - 8 - (size_t)header_len;

    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            status = sl_st_check_metadata(path, value);
            if (status != SL_OK)
                goto err_file;
            continue;
        }
        sl_st_tensor_t *t = &f->tensors[f->num_tensors];
        status = sl_st_parse_tensor(path, key, value, f->data_size, t);
        if (status != SL_OK)
            goto err_file;
        t->name = strdup(key);
        if (t->name == NULL) {
            status = SL_ERR_NO_MEMORY;
            goto err_file;
        }
        f->num_tensors++;
    }
    status = sl_st_check_layout(f);
    if (status != SL_OK)
        goto err_file;
    qsort(f->tensors, f->num_tensors, sizeof(*f->tensors), sl_st_cmp_name);
    json_decref(root);
    *file_p = f;
    return SL_OK;

err_file:
    if (status == SL_ERR_NO_MEMORY)
        sl_error("%s: out of memory reading the header", path);
    sl_st_close(f);
    json_decref(root);
    return status;
err_nomem:
    sl_error("%s: out of memory reading the header", path);
err_root:
    json_decref(root);
    return status;
}

sl_status_t sl_st_open(const char *path, sl_st_file_t **file_p)
{
    struct stat st;
    void *map;
    int fd;
    sl_status_t status;
    sl_st_file_t *f;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        sl_error("%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    if (fstat(fd, &st) != 0) {
        sl_error("%s: fstat: %s", path, strerror(errno));
        status = SL_ERR_IO;
        goto err_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        sl_error("%s: not a regular file", path);
        status = SL_ERR_IO;
        goto err_fd;
    }
    if ((uint64_t)st.st_size < 8) {
        sl_error("%s: %lld bytes, too short for the 8-byte header length (truncated file?)",
                 path, (long long)st.st_size);
        status = SL_ERR_FORMAT;
        goto err_fd;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        sl_error("%s: file too large to map", path);
        status = SL_ERR_OVERFLOW;
        goto err_fd;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        sl_error("%s: mmap of %lld bytes: %s", path, (long long)st.st_size, strerror(errno));
        status = SL_ERR_IO;
        goto err_fd;
    }
    close(fd);
    status = sl_st_parse(path, map, (size_t)st.st_size, &f);
    if (status != SL_OK) {
        munmap(map, (size_t)st.st_size);
        return status;
    }
    f->mapped = 1;
    *file_p = f;
    return SL_OK;

err_fd:
    close(fd);
    return status;
}

void sl_st_close(sl_st_file_t *file)
{
    if (file == NULL)
        return;
    if (file->tensors != NULL)
        for (size_t i = 0; i < file->num_tensors; i++)
            free(file->tensors[i].name);
    free(file->tensors);
    if (file->mapped)
        munmap((void *)file->base, file->size);
    free(file->path);
    free(file);
}

const sl_st_tensor_t *sl_st_find(const sl_st_file_t *file, const char *name)
{
    size_t lo = 0, hi = file->num_tensors;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, file->tensors[mid].name);
        if (c == 0)
            return &file->tensors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}
