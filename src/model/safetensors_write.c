/* safetensors_write.c - writing safetensors files (logits, generated test
 * models); see safetensors.h. */
#include "config.h"

#include "model/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Bytes of tensor T; checks its dtype and shape. */
static sl_status_t sl_st_out_bytes(const char *path, const sl_st_out_tensor_t *t,
                                   uint64_t *bytes_p)
{
    uint64_t n = sl_dtype_size(t->dtype);

    if (n == 0 || t->ndim < 0 || t->ndim > SL_ST_MAX_DIMS || t->name == NULL) {
        sl_error("%s: tensor '%s': invalid dtype or shape", path,
                 t->name != NULL ? t->name : "(null)");
        return SL_ERR_INVALID_ARG;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (__builtin_mul_overflow(n, t->shape[i], &n)) {
            sl_error("%s: tensor '%s': size overflows", path, t->name);
            return SL_ERR_OVERFLOW;
        }
    }
    *bytes_p = n;
    return SL_OK;
}

/* The header JSON, padded with spaces to make 8 + length a multiple of 8. */
static sl_status_t sl_st_build_header(const char *path, const sl_st_out_tensor_t *tensors,
                                      size_t n, char **text_p, size_t *len_p)
{
    json_t *root = json_object();
    uint64_t offset = 0;
    sl_status_t status = SL_ERR_NO_MEMORY;
    char *text, *padded;
    size_t len, plen;

    if (root == NULL ||
        json_object_set_new(root, "__metadata__", json_pack("{ss}", "format", "pt")) != 0)
        goto err_json;
    for (size_t i = 0; i < n; i++) {
        const sl_st_out_tensor_t *t = &tensors[i];
        uint64_t bytes;
        json_t *info, *shape;

        status = sl_st_out_bytes(path, t, &bytes);
        if (status != SL_OK)
            goto err_json;
        status = SL_ERR_NO_MEMORY;
        info = json_object();
        shape = json_array();
        if (info == NULL || shape == NULL) {
            json_decref(info);
            json_decref(shape);
            goto err_json;
        }
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(info, "dtype", json_string(sl_dtype_name(t->dtype)));
        json_object_set_new(info, "shape", shape);
        json_object_set_new(info, "data_offsets",
                            json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + bytes)));
        if (json_object_set_new(root, t->name, info) != 0)
            goto err_json;
        offset += bytes;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto err_json;
    len = strlen(text);
    plen = (len + 7) / 8 * 8;
    padded = malloc(plen + 1);
    if (padded == NULL) {
        free(text);
        goto err_json;
    }
    memcpy(padded, text, len);
    memset(padded + len, ' ', plen - len);
    padded[plen] = '\0';
    free(text);
    json_decref(root);
    *text_p = padded;
    *len_p = plen;
    return SL_OK;

err_json:
    if (status == SL_ERR_NO_MEMORY)
        sl_error("%s: out of memory building the header", path);
    json_decref(root);
    return status;
}

sl_status_t sl_st_write(const char *path, const sl_st_out_tensor_t *tensors, size_t n)
{
    char *header, *tmp;
    size_t header_len;
    unsigned char len_bytes[8];
    sl_status_t status;
    FILE *out;

    status = sl_st_build_header(path, tensors, n, &header, &header_len);
    if (status != SL_OK)
        return status;
    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        sl_error("%s: out of memory", path);
        status = SL_ERR_NO_MEMORY;
        goto err_header;
    }
    out = fopen(tmp, "wb");
    if (out == NULL) {
        sl_error("%s: cannot create: %s", tmp, strerror(errno));
        status = SL_ERR_IO;
        goto err_tmp;
    }
    for (int i = 0; i < 8; i++)
        len_bytes[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    int ok = fwrite(len_bytes, 1, 8, out) == 8 && fwrite(header, 1, header_len, out) == header_len;
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t bytes;
        sl_st_out_bytes(path, &tensors[i], &bytes); /* checked above */
        ok = bytes == 0 || fwrite(tensors[i].data, 1, (size_t)bytes, out) == bytes;
    }
    if (fclose(out) != 0)
        ok = 0;
    if (!ok) {
        sl_error("%s: write failed: %s", tmp, strerror(errno));
        status = SL_ERR_IO;
        goto err_file;
    }
    if (rename(tmp, path) != 0) {
        sl_error("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        status = SL_ERR_IO;
        goto err_file;
    }
    free(tmp);
    free(header);
    return SL_OK;

err_file:
    unlink(tmp);
err_tmp:
    free(tmp);
err_header:
    free(header);
    return status;
}
