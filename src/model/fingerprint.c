/* fingerprint.c - see fingerprint.h. */
#include "config.h"

#include "model/fingerprint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/log.h"

#define SL_FP_MAX_HEADER (100u << 20)

static int sl_fp_is_safetensors(const char *name)
{
    size_t n = strlen(name), s = strlen(".safetensors");
    return n > s && strcmp(name + n - s, ".safetensors") == 0;
}

static int sl_fp_cmp(const void *a, const void *b)
{
    return strcmp(((const sl_model_file_print_t *)a)->name,
                  ((const sl_model_file_print_t *)b)->name);
}

/* Size and hash of PATH: the whole file (config.json) or the 8-byte length
 * plus the header it announces (safetensors). */
static sl_status_t sl_fp_file(const char *path, int header_only, sl_model_file_print_t *f)
{
    FILE *in = fopen(path, "rb");
    unsigned char len_bytes[8];
    uint64_t len = 0;
    char *buf = NULL;
    sl_status_t status = SL_ERR_IO;

    if (in == NULL) {
        sl_error("%s: cannot open: %s", path, strerror(errno));
        return errno == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    if (fseeko(in, 0, SEEK_END) != 0 || (f->size = (uint64_t)ftello(in)) == (uint64_t)-1 ||
        fseeko(in, 0, SEEK_SET) != 0) {
        sl_error("%s: cannot find its size: %s", path, strerror(errno));
        goto out;
    }
    if (header_only) {
        if (fread(len_bytes, 1, 8, in) != 8) {
            sl_error("%s: shorter than a safetensors header length", path);
            status = SL_ERR_FORMAT;
            goto out;
        }
        for (int i = 7; i >= 0; i--)
            len = len << 8 | len_bytes[i];
        if (len > SL_FP_MAX_HEADER || len > f->size - 8) {
            sl_error("%s: header length %llu does not fit the file (%llu bytes)", path,
                     (unsigned long long)len, (unsigned long long)f->size);
            status = SL_ERR_FORMAT;
            goto out;
        }
    } else {
        len = f->size;
        if (len > SL_FP_MAX_HEADER) {
            sl_error("%s: %llu bytes is too large for a configuration file", path,
                     (unsigned long long)len);
            status = SL_ERR_FORMAT;
            goto out;
        }
    }
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        sl_error("%s: out of memory reading %llu bytes", path, (unsigned long long)len);
        status = SL_ERR_NO_MEMORY;
        goto out;
    }
    if (fread(buf, 1, len, in) != len) {
        sl_error("%s: read failed", path);
        goto out;
    }
    f->header_hash = XXH3_64bits(buf, len);
    status = SL_OK;
out:
    free(buf);
    fclose(in);
    return status;
}

sl_status_t sl_model_fingerprint(const char *dir, sl_model_fingerprint_t *fp_p)
{
    sl_model_fingerprint_t fp = {0};
    DIR *d = NULL;
    struct dirent *e;
    char path[4096];
    size_t cap = 8;
    sl_status_t status;

    fp.files = calloc(cap, sizeof(*fp.files));
    if (fp.files == NULL)
        goto err_nomem;
    snprintf(fp.files[0].name, sizeof(fp.files[0].name), "config.json");
    snprintf(path, sizeof(path), "%s/config.json", dir);
    if ((status = sl_fp_file(path, 0, &fp.files[0])) != SL_OK)
        goto err;
    fp.num_files = 1;

    if ((d = opendir(dir)) == NULL) {
        sl_error("%s: cannot list the model folder: %s", dir, strerror(errno));
        status = SL_ERR_IO;
        goto err;
    }
    while ((e = readdir(d)) != NULL) {
        if (!sl_fp_is_safetensors(e->d_name) || strlen(e->d_name) >= sizeof(fp.files[0].name))
            continue;
        if (fp.num_files == cap) {
            sl_model_file_print_t *more = realloc(fp.files, 2 * cap * sizeof(*more));
            if (more == NULL)
                goto err_nomem;
            fp.files = more;
            cap *= 2;
        }
        sl_model_file_print_t *f = &fp.files[fp.num_files];
        memset(f, 0, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "%s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if ((status = sl_fp_file(path, 1, f)) != SL_OK)
            goto err;
        fp.num_files++;
    }
    closedir(d);
    d = NULL;
    qsort(fp.files + 1, fp.num_files - 1, sizeof(*fp.files), sl_fp_cmp);

    XXH3_state_t *state = XXH3_createState();
    if (state == NULL)
        goto err_nomem;
    XXH3_64bits_reset(state);
    for (size_t i = 0; i < fp.num_files; i++) {
        XXH3_64bits_update(state, fp.files[i].name, strlen(fp.files[i].name));
        XXH3_64bits_update(state, &fp.files[i].size, sizeof(fp.files[i].size));
        XXH3_64bits_update(state, &fp.files[i].header_hash, sizeof(fp.files[i].header_hash));
    }
    fp.hash = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    *fp_p = fp;
    return SL_OK;

err_nomem:
    sl_error("%s: out of memory fingerprinting the model", dir);
    status = SL_ERR_NO_MEMORY;
err:
    if (d != NULL)
        closedir(d);
    free(fp.files);
    return status;
}

void sl_model_fingerprint_release(sl_model_fingerprint_t *fp)
{
    free(fp->files);
    fp->files = NULL;
    fp->num_files = 0;
}
