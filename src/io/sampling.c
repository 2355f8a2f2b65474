/* sampling.c - type checks of the OpenAI sampling fields; see sampling.h. */
#include "config.h"

#include "io/sampling.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    SL_IO_F_INT,     /* integer in [lo, hi] */
    SL_IO_F_NUMBER,  /* integer or real in [lo, hi] */
    SL_IO_F_POSNUM,  /* number > 0 */
    SL_IO_F_BOOL,
    SL_IO_F_STRING,
    SL_IO_F_STOP,    /* string or array of strings */
    SL_IO_F_IDLIST,  /* array of integers >= 0 */
    SL_IO_F_BIAS,    /* object of numbers in [lo, hi] */
    SL_IO_F_LOGPROBS /* endpoint dependent */
} sl_io_field_kind_t;

static const struct {
    const char *name;
    sl_io_field_kind_t kind;
    double lo, hi;
} sl_io_fields[] = {
    {"max_tokens", SL_IO_F_INT, 0, INFINITY},
    {"max_completion_tokens", SL_IO_F_INT, 0, INFINITY},
    {"min_tokens", SL_IO_F_INT, 0, INFINITY},
    {"n", SL_IO_F_INT, 1, 1024},
    {"best_of", SL_IO_F_INT, 1, 1024},
    {"temperature", SL_IO_F_NUMBER, 0, INFINITY},
    {"top_p", SL_IO_F_NUMBER, 0, 1},
    {"min_p", SL_IO_F_NUMBER, 0, 1},
    {"top_k", SL_IO_F_INT, -1, INFINITY},
    {"presence_penalty", SL_IO_F_NUMBER, -2, 2},
    {"frequency_penalty", SL_IO_F_NUMBER, -2, 2},
    {"repetition_penalty", SL_IO_F_POSNUM, 0, INFINITY},
    {"seed", SL_IO_F_INT, -INFINITY, INFINITY},
    {"stop", SL_IO_F_STOP, 0, 0},
    {"stop_token_ids", SL_IO_F_IDLIST, 0, 0},
    {"logprobs", SL_IO_F_LOGPROBS, 0, 20},
    {"top_logprobs", SL_IO_F_INT, 0, 20},
    {"ignore_eos", SL_IO_F_BOOL, 0, 0},
    {"skip_special_tokens", SL_IO_F_BOOL, 0, 0},
    {"stream", SL_IO_F_BOOL, 0, 0},
    {"echo", SL_IO_F_BOOL, 0, 0},
    {"user", SL_IO_F_STRING, 0, 0},
    {"logit_bias", SL_IO_F_BIAS, -100, 100},
};
#define SL_IO_NUM_FIELDS (sizeof(sl_io_fields) / sizeof(sl_io_fields[0]))

/* "%g" prints 2147483647 as 2.14748e+09; integers read better whole. */
static void sl_io_fmt_bound(char *buf, size_t size, double v)
{
    if (isinf(v))
        snprintf(buf, size, "%s", v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e18)
        snprintf(buf, size, "%lld", (long long)v);
    else
        snprintf(buf, size, "%g", v);
}

static sl_status_t sl_io_fail_type(char *err, size_t size, const char *name, const char *what,
                                   const json_t *v)
{
    snprintf(err, size, "%s: expected %s, got %s", name, what, sl_io_json_type_name(v));
    return SL_ERR_FORMAT;
}

static sl_status_t sl_io_check_range(char *err, size_t size, const char *name, double x,
                                     double lo, double hi, const char *what)
{
    char a[32], b[32], xs[32];

    if (x >= lo && x <= hi)
        return SL_OK;
    sl_io_fmt_bound(a, sizeof(a), lo);
    sl_io_fmt_bound(b, sizeof(b), hi);
    sl_io_fmt_bound(xs, sizeof(xs), x);
    if (isinf(hi))
        snprintf(err, size, "%s: expected %s >= %s, got %s", name, what, a, xs);
    else
        snprintf(err, size, "%s: expected %s in [%s, %s], got %s", name, what, a, b, xs);
    return SL_ERR_FORMAT;
}

static sl_status_t sl_io_check_int(const json_t *v, const char *name, double lo, double hi,
                                   char *err, size_t size)
{
    if (!json_is_integer(v))
        return sl_io_fail_type(err, size, name, "an integer", v);
    return sl_io_check_range(err, size, name, (double)json_integer_value(v), lo, hi,
                             "an integer");
}

static sl_status_t sl_io_check_number(const json_t *v, const char *name, double lo, double hi,
                                      char *err, size_t size)
{
    if (!json_is_number(v))
        return sl_io_fail_type(err, size, name, "a number", v);
    return sl_io_check_range(err, size, name, json_number_value(v), lo, hi, "a number");
}

static sl_status_t sl_io_check_field(const json_t *v, size_t f, sl_io_endpoint_t endpoint,
                                     char *err, size_t size)
{
    const char *name = sl_io_fields[f].name;
    double lo = sl_io_fields[f].lo, hi = sl_io_fields[f].hi;
    size_t i;
    const json_t *e;
    const char *key;

    switch (sl_io_fields[f].kind) {
    case SL_IO_F_INT:
        return sl_io_check_int(v, name, lo, hi, err, size);
    case SL_IO_F_NUMBER:
        return sl_io_check_number(v, name, lo, hi, err, size);
    case SL_IO_F_POSNUM:
        if (!json_is_number(v))
            return sl_io_fail_type(err, size, name, "a number", v);
        if (!(json_number_value(v) > 0)) {
            snprintf(err, size, "%s: expected a number > 0, got %g", name, json_number_value(v));
            return SL_ERR_FORMAT;
        }
        return SL_OK;
    case SL_IO_F_BOOL:
        return json_is_boolean(v) ? SL_OK : sl_io_fail_type(err, size, name, "a boolean", v);
    case SL_IO_F_STRING:
        return json_is_string(v) ? SL_OK : sl_io_fail_type(err, size, name, "a string", v);
    case SL_IO_F_STOP:
        if (json_is_string(v))
            return SL_OK;
        if (!json_is_array(v))
            return sl_io_fail_type(err, size, name, "a string or an array of strings", v);
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                snprintf(err, size, "%s[%zu]: expected a string, got %s", name, i,
                         sl_io_json_type_name(e));
                return SL_ERR_FORMAT;
            }
        }
        return SL_OK;
    case SL_IO_F_IDLIST:
        if (!json_is_array(v))
            return sl_io_fail_type(err, size, name, "an array of integers", v);
        json_array_foreach(v, i, e) {
            char sub[64];
            snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
            if (sl_io_check_int(e, sub, 0, INT32_MAX, err, size) != SL_OK)
                return SL_ERR_FORMAT;
        }
        return SL_OK;
    case SL_IO_F_BIAS:
        if (!json_is_object(v))
            return sl_io_fail_type(err, size, name, "an object of numbers", v);
        json_object_foreach((json_t *)v, key, e) {
            char sub[96];
            snprintf(sub, sizeof(sub), "%s.%.60s", name, key);
            if (sl_io_check_number(e, sub, lo, hi, err, size) != SL_OK)
                return SL_ERR_FORMAT;
        }
        return SL_OK;
    case SL_IO_F_LOGPROBS:
        /* chat: whether to return logprobs; legacy completions: how many */
        if (endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS)
            return json_is_boolean(v) ? SL_OK : sl_io_fail_type(err, size, name, "a boolean", v);
        return sl_io_check_int(v, name, lo, hi, err, size);
    }
    return SL_OK;
}

sl_status_t sl_io_sampling_validate(const json_t *params, sl_io_endpoint_t endpoint, char *err,
                                    size_t err_size)
{
    char local[256];

    if (params == NULL)
        return SL_OK;
    if (err == NULL || err_size == 0) {
        err = local;
        err_size = sizeof(local);
    }
    if (!json_is_object(params))
        return sl_io_fail_type(err, err_size, "sampling parameters", "an object", params);
    for (size_t f = 0; f < SL_IO_NUM_FIELDS; f++) {
        const json_t *v = json_object_get(params, sl_io_fields[f].name);
        if (v == NULL || json_is_null(v))
            continue;
        if (sl_io_check_field(v, f, endpoint, err, err_size) != SL_OK)
            return SL_ERR_FORMAT;
    }
    return SL_OK;
}
