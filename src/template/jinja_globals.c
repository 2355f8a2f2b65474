/* jinja_globals.c - the functions a chat template can call by name: jinja2's
 * range, dict and namespace, and transformers' raise_exception and
 * strftime_now. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "template/jinja_internal.h"

/* jinja2's sandbox refuses range() longer than this. */
#define SL_JMAX_RANGE 100000

/* ---- globals --------------------------------------------------------------------------------- */

static int sl_jg_range(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    int64_t v[3] = {0, 0, 1}, count;
    (void)self;

    if (args->nkw != 0 || args->npos == 0 || args->npos > 3)
        return sl_jerr(ctx, "range expected 1 to 3 integer arguments");
    for (size_t i = 0; i < args->npos; i++)
        if (sl_jneed_int(ctx, "range", args->pos[i], &v[args->npos == 1 ? 1 : i]) != 0)
            return -1;
    if (v[2] == 0)
        return sl_jerr(ctx, "range() arg 3 must not be zero");
    if (v[2] > 0)
        count = v[1] > v[0] ? (v[1] - v[0] - 1) / v[2] + 1 : 0;
    else
        count = v[0] > v[1] ? (v[0] - v[1] - 1) / -v[2] + 1 : 0;
    if (count > SL_JMAX_RANGE || v[1] - v[0] > INT64_MAX / 2 || v[0] - v[1] > INT64_MAX / 2)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                              "Range too big. The sandbox blocks ranges larger than MAX_RANGE "
                              "(%d).", SL_JMAX_RANGE);
    if (sl_jlist_new(ctx, (size_t)count, SL_JV_LIST, out) != 0)
        return -1;
    for (int64_t i = 0; i < count; i++)
        out->u.list->items[i] = sl_jv_int(v[0] + i * v[2]);
    out->u.list->len = (size_t)count;
    out->u.list->flavor = SL_JSEQ_RANGE;
    memcpy(out->u.list->range, v, sizeof(v));
    return 0;
}

/* dict(...) and namespace(...): an optional mapping or list of pairs, then
 * keyword arguments. */
static int sl_jg_mapping(sl_jctx_t *ctx, const sl_jargs_t *args, sl_jkind_t kind, sl_jv_t *out)
{
    if (args->npos > 1)
        return sl_jerr(ctx, "expected at most 1 positional argument, got %zu", args->npos);
    if (sl_jdict_new(ctx, kind, out) != 0)
        return -1;
    if (args->npos == 1) {
        sl_jv_t src = args->pos[0];
        if (sl_jv_is_map(src)) {
            for (size_t i = 0; i < src.u.dict->len; i++)
                if (sl_jdict_set(ctx, out->u.dict, src.u.dict->keys[i], src.u.dict->vals[i]) != 0)
                    return -1;
        } else if (sl_jv_is_iter(src)) {
            for (size_t i = 0; i < src.u.list->len; i++) {
                sl_jv_t pair = src.u.list->items[i];
                if (!sl_jv_is_seq(pair) || pair.u.list->len != 2)
                    return sl_jerr(ctx, "dictionary update sequence element #%zu has the "
                                        "wrong length", i);
                if (sl_jdict_set(ctx, out->u.dict, pair.u.list->items[0],
                                 pair.u.list->items[1]) != 0)
                    return -1;
            }
        } else {
            return sl_jerr(ctx, "'%s' object is not a mapping", sl_jv_type_name(src));
        }
    }
    for (size_t k = 0; k < args->nkw; k++) {
        sl_jv_t key;
        if (sl_jv_cstr(ctx, args->kwnames[k], &key) != 0 ||
            sl_jdict_set(ctx, out->u.dict, key, args->kw[k]) != 0)
            return -1;
    }
    return 0;
}

static int sl_jg_namespace(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)self;
    return sl_jg_mapping(ctx, args, SL_JV_NAMESPACE, out);
}

static int sl_jg_dict(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)self;
    return sl_jg_mapping(ctx, args, SL_JV_DICT, out);
}

static int sl_jg_raise_exception(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args,
                                 sl_jv_t *out)
{
    sl_jv_t msg = sl_jv_undef();
    (void)self;
    (void)out;

    if (sl_jbind(ctx, "raise_exception", args, SL_JPARAMS("message"), &msg) != 0 ||
        sl_jv_to_str(ctx, msg, &msg) != 0)
        return -1;
    if (ctx->status == SL_OK && ctx->err != NULL) {
        sl_jerr(ctx, "%s", msg.u.s->data);
        ctx->err->raised = true;
        return -1;
    }
    return sl_jerr(ctx, "%s", msg.u.s->data);
}

/* datetime.now().strftime(fmt) as transformers calls it. Python handles %f,
 * %z and %Z itself (a naive datetime has no zone: both are empty); the rest
 * goes to the C library's strftime, as here. */
static int sl_jg_strftime_now(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t fmt = sl_jv_undef();
    struct tm tm;
    struct timespec ts;
    sl_jbuf_t spec = {0};
    char result[1024];
    size_t n;
    (void)self;

    if (sl_jbind(ctx, "strftime_now", args, SL_JPARAMS("format"), &fmt) != 0 ||
        sl_jneed_str(ctx, "strftime_now", fmt) != 0)
        return -1;
    if (ctx->now != 0) {
        ts.tv_sec = ctx->now;
        ts.tv_nsec = 0;
        gmtime_r(&ts.tv_sec, &tm);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
    }
    for (size_t i = 0; i < fmt.u.s->len; i++) {
        char c = fmt.u.s->data[i], next = i + 1 < fmt.u.s->len ? fmt.u.s->data[i + 1] : 0;
        int rc;
        if (c == '%' && (next == 'z' || next == 'Z')) {
            i++;
            continue;
        }
        if (c == '%' && next == 'f') {
            rc = sl_jbuf_printf(ctx, &spec, "%06ld", (long)(ts.tv_nsec / 1000));
            i++;
        } else if (c == '%' && next != 0) {
            rc = sl_jbuf_put(ctx, &spec, fmt.u.s->data + i, 2);
            i++;
        } else {
            rc = sl_jbuf_put(ctx, &spec, &c, 1);
        }
        if (rc != 0)
            return -1;
    }
    if (spec.len == 0)
        return sl_jv_str(ctx, "", 0, out);
    if (spec.len > 256)
        return sl_jerr(ctx, "strftime_now() format longer than 256 bytes");
    /* The format is the template's, as in Python's strftime. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(result, sizeof(result), spec.data, &tm);
#pragma GCC diagnostic pop
    return sl_jv_str(ctx, result, n, out);
}

static sl_jfunc_t sl_jglobals[] = {
    {.name = "range", .fn = sl_jg_range},
    {.name = "namespace", .fn = sl_jg_namespace},
    {.name = "dict", .fn = sl_jg_dict},
    {.name = "raise_exception", .fn = sl_jg_raise_exception},
    {.name = "strftime_now", .fn = sl_jg_strftime_now},
};

bool sl_jglobal_lookup(const char *name, sl_jv_t *out)
{
    for (size_t i = 0; i < sizeof(sl_jglobals) / sizeof(sl_jglobals[0]); i++) {
        if (strcmp(sl_jglobals[i].name, name) == 0) {
            *out = (sl_jv_t){.kind = SL_JV_FUNC, .u.func = &sl_jglobals[i]};
            return true;
        }
    }
    return false;
}
