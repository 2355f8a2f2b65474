/* preflight.c - see preflight.h. */
#include "config.h"

#include "job/preflight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/version.h"
#include "model/fingerprint.h"

/* Differences listed per rank before the log says "and N more". */
#define SL_PREFLIGHT_MAX_REPORTED 8

struct sl_preflight {
    char *text;  /* "key=value\n" lines */
    size_t len;
    size_t cap;
};

static sl_status_t sl_preflight_append(sl_preflight_t *pf, const char *s, size_t n)
{
    if (pf->len + n + 1 > pf->cap) {
        size_t cap = pf->cap ? pf->cap : 256;
        while (cap < pf->len + n + 1)
            cap *= 2;
        char *text = realloc(pf->text, cap);
        if (text == NULL) {
            sl_error("preflight: out of memory growing the list to %zu bytes", cap);
            return SL_ERR_NO_MEMORY;
        }
        pf->text = text;
        pf->cap = cap;
    }
    memcpy(pf->text + pf->len, s, n);
    pf->len += n;
    pf->text[pf->len] = '\0';
    return SL_OK;
}

sl_status_t sl_preflight_add(sl_preflight_t *preflight, const char *key, const char *value)
{
    sl_status_t status;

    if (value == NULL)
        value = "(unset)";
    if (strchr(key, '\n') != NULL || strchr(key, '=') != NULL || strchr(value, '\n') != NULL) {
        sl_error("preflight: key '%s' must not contain '=' or a newline, nor its value a newline", key);
        return SL_ERR_INVALID_ARG;
    }
    if ((status = sl_preflight_append(preflight, key, strlen(key))) != SL_OK ||
        (status = sl_preflight_append(preflight, "=", 1)) != SL_OK ||
        (status = sl_preflight_append(preflight, value, strlen(value))) != SL_OK)
        return status;
    return sl_preflight_append(preflight, "\n", 1);
}

sl_status_t sl_preflight_add_int(sl_preflight_t *preflight, const char *key, long long value)
{
    char text[32];
    snprintf(text, sizeof(text), "%lld", value);
    return sl_preflight_add(preflight, key, text);
}

sl_status_t sl_preflight_add_model(sl_preflight_t *preflight, const char *dir, int dummy)
{
    sl_model_fingerprint_t fp;
    sl_status_t status = sl_preflight_add(preflight, "model", dir);

    if (status != SL_OK || (status = sl_model_fingerprint(dir, &fp)) != SL_OK)
        return status;
    for (size_t i = 0; i < fp.num_files && status == SL_OK; i++) {
        char key[300], value[64];
        if (dummy && i > 0)
            break; /* dummy weights come from config.json alone */
        snprintf(key, sizeof(key), "model file %s", fp.files[i].name);
        snprintf(value, sizeof(value), "%llu bytes, header %016llx",
                 (unsigned long long)fp.files[i].size,
                 (unsigned long long)fp.files[i].header_hash);
        status = sl_preflight_add(preflight, key, value);
    }
    sl_model_fingerprint_release(&fp);
    return status;
}

sl_status_t sl_preflight_create(sl_preflight_t **preflight_p)
{
    char version[128];
    sl_preflight_t *pf = calloc(1, sizeof(*pf));

    if (pf == NULL) {
        sl_error("preflight: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    snprintf(version, sizeof(version), "%s (git %s)", sl_version(), sl_git_revision());
    if (sl_preflight_add(pf, "slinfer", version) != SL_OK) {
        sl_preflight_destroy(pf);
        return SL_ERR_NO_MEMORY;
    }
    *preflight_p = pf;
    return SL_OK;
}

void sl_preflight_destroy(sl_preflight_t *preflight)
{
    if (preflight == NULL)
        return;
    free(preflight->text);
    free(preflight);
}

const char *sl_preflight_text(const sl_preflight_t *preflight)
{
    return preflight->text != NULL ? preflight->text : "";
}

/* The value of `key` in a serialized list as a pointer/length into it;
 * NULL when absent. */
static const char *sl_preflight_lookup(const char *list, const char *key, size_t key_len,
                                       size_t *value_len_p)
{
    for (const char *line = list; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t line_len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (line_len > key_len && line[key_len] == '=' && memcmp(line, key, key_len) == 0) {
            *value_len_p = line_len - key_len - 1;
            return line + key_len + 1;
        }
        line += line_len + (end != NULL);
    }
    return NULL;
}

/* Logs how rank `r`'s list differs from rank 0's; returns the number of
 * differing keys. Keys only rank r has count too. */
static int sl_preflight_diff(int r, const char *ref, const char *list, const char *host0,
                             const char *host)
{
    int differences = 0;

    /* Every key of rank 0: missing or different on rank r. */
    for (const char *line = ref; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t line_len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *eq = memchr(line, '=', line_len);
        size_t key_len = eq != NULL ? (size_t)(eq - line) : line_len;
        size_t ref_len = eq != NULL ? line_len - key_len - 1 : 0;
        size_t value_len = 0;
        const char *value = sl_preflight_lookup(list, line, key_len, &value_len);

        if (value == NULL || value_len != ref_len || memcmp(value, eq + 1, ref_len) != 0) {
            if (++differences <= SL_PREFLIGHT_MAX_REPORTED)
                sl_error("preflight: rank %d on %s differs from rank 0 on %s: %.*s is "
                         "'%.*s' on %s but '%.*s' on %s",
                         r, host, host0, (int)key_len, line, (int)(value ? value_len : 9),
                         value ? value : "(missing)", host, (int)ref_len, eq ? eq + 1 : "",
                         host0);
        }
        line += line_len + (end != NULL);
    }
    /* Keys rank 0 does not have. */
    for (const char *line = list; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t line_len = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *eq = memchr(line, '=', line_len);
        size_t key_len = eq != NULL ? (size_t)(eq - line) : line_len;
        size_t unused;
        if (sl_preflight_lookup(ref, line, key_len, &unused) == NULL &&
            ++differences <= SL_PREFLIGHT_MAX_REPORTED)
            sl_error("preflight: rank %d on %s has %.*s, which rank 0 on %s does not", r,
                     host, (int)line_len, line, host0);
        line += line_len + (end != NULL);
    }
    if (differences > SL_PREFLIGHT_MAX_REPORTED)
        sl_error("preflight: rank %d on %s: %d more differences", r, host,
                 differences - SL_PREFLIGHT_MAX_REPORTED);
    return differences;
}

int sl_preflight_compare(int nranks, const char *const *lists, const char *const *hosts)
{
    int differing = 0;

    for (int r = 1; r < nranks; r++)
        if (strcmp(lists[r], lists[0]) != 0)
            differing += sl_preflight_diff(r, lists[0], lists[r], hosts[0], hosts[r]) > 0;
    return differing;
}

sl_status_t sl_preflight_run(const sl_preflight_t *preflight, sl_boot_t *boot)
{
    const char *text = sl_preflight_text(preflight);
    sl_boot_blobs_t *blobs = NULL;
    const char **hosts = NULL;
    sl_status_t status;
    int n = sl_boot_size(boot);

    status = sl_boot_allgatherv(boot, text, strlen(text), &blobs);
    if (status != SL_OK)
        return status;

    hosts = malloc((size_t)n * sizeof(*hosts));
    if (hosts == NULL) {
        sl_error("preflight: out of memory");
        status = SL_ERR_NO_MEMORY;
        goto err_blobs;
    }
    for (int r = 0; r < n; r++)
        hosts[r] = sl_boot_hostname_of(boot, r);

    int differing = sl_preflight_compare(n, (const char *const *)blobs->data, hosts);
    if (differing > 0) {
        sl_error("preflight: %d of %d ranks do not match rank 0; every rank stops", differing,
                 n);
        status = SL_ERR_MISMATCH;
    } else {
        sl_debug("preflight: %d ranks agree on %zu bytes of settings", n, strlen(text));
    }
    free(hosts);
err_blobs:
    sl_boot_blobs_free(blobs);
    return status;
}
