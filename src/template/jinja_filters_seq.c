/* jinja_filters_seq.c - the filters that sort, pick and regroup sequences:
 * sort, dictsort, unique, min, max, sum, map, select, reject, selectattr,
 * rejectattr, batch, slice, groupby. Sorting is stable, like Python's, and
 * case-insensitive unless asked otherwise, like jinja2's. */
#include "config.h"

#include <string.h>

#include "template/jinja_internal.h"

/* ---- sorting --------------------------------------------------------------------------------- */

/* A sort key: the attribute at PATH (NONE: the item), lower-cased for
 * case-insensitive comparisons like jinja2's ignore_case. */
static int sl_jsort_key(sl_jctx_t *ctx, sl_jv_t item, sl_jv_t path, bool fold, sl_jv_t *out)
{
    if (path.kind != SL_JV_NONE && path.kind != SL_JV_UNDEFINED) {
        if (sl_jop_getpath(ctx, item, path, &item) != 0)
            return -1;
    }
    if (fold && item.kind == SL_JV_STR)
        return sl_jstr_case(ctx, item.u.s, SL_JCASE_LOWER, out);
    *out = item;
    return 0;
}

/* Stable merge sort of ITEMS by KEYS (both N long), as Python's sorted();
 * with REVERSE, equal keys keep their order too. */
static int sl_jsort(sl_jctx_t *ctx, sl_jv_t *items, sl_jv_t *keys, size_t n, bool reverse)
{
    sl_jv_t *ti, *tk;

    if (n < 2)
        return 0;
    ti = sl_jalloc(ctx, n * sizeof(*ti));
    tk = sl_jalloc(ctx, n * sizeof(*tk));
    if (ti == NULL || tk == NULL)
        return -1;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid || b < hi) {
                bool take_b = false;
                if (a < mid && b < hi) {
                    int c;
                    if (sl_jv_cmp(ctx, keys[a], keys[b], &c) != 0)
                        return -1;
                    take_b = reverse ? c < 0 : c > 0;
                } else {
                    take_b = a >= mid;
                }
                if (take_b) {
                    ti[k] = items[b];
                    tk[k++] = keys[b++];
                } else {
                    ti[k] = items[a];
                    tk[k++] = keys[a++];
                }
            }
        }
        memcpy(items, ti, n * sizeof(*ti));
        memcpy(keys, tk, n * sizeof(*tk));
    }
    return 0;
}

/* Items of V with their keys, ready for sl_jsort. */
static int sl_jsort_prepare(sl_jctx_t *ctx, sl_jv_t v, sl_jv_t path, bool fold, sl_jv_t *list,
                            sl_jv_t **keys_p)
{
    sl_jlist_t *items;
    sl_jv_t *keys;

    if (sl_jv_iterate(ctx, v, &items) != 0 || sl_jlist_new(ctx, items->len, SL_JV_LIST, list) != 0)
        return -1;
    keys = sl_jalloc(ctx, (items->len + 1) * sizeof(*keys));
    if (keys == NULL)
        return -1;
    for (size_t i = 0; i < items->len; i++) {
        list->u.list->items[i] = items->items[i];
        if (sl_jsort_key(ctx, items->items[i], path, fold, &keys[i]) != 0)
            return -1;
    }
    list->u.list->len = items->len;
    *keys_p = keys;
    return 0;
}

static int sl_jf_sort(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_bool(false), sl_jv_bool(false), sl_jv_none()}, *keys;

    if (sl_jbind(ctx, "sort", args, SL_JPARAMS("reverse", "case_sensitive", "attribute"),
                 slots) != 0 ||
        sl_jsort_prepare(ctx, v, slots[2], !sl_jv_truthy(slots[1]), out, &keys) != 0)
        return -1;
    return sl_jsort(ctx, out->u.list->items, keys, out->u.list->len, sl_jv_truthy(slots[0]));
}

static int sl_jf_dictsort(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_bool(false), sl_jv_undef(), sl_jv_bool(false)}, *keys;
    int by = 0;

    if (sl_jbind(ctx, "dictsort", args, SL_JPARAMS("case_sensitive", "by", "reverse"),
                 slots) != 0 ||
        sl_jf_items(ctx, v, &(sl_jargs_t){0}, out) != 0)
        return -1;
    if (slots[1].kind == SL_JV_STR && strcmp(slots[1].u.s->data, "value") == 0)
        by = 1;
    else if (slots[1].kind != SL_JV_UNDEFINED &&
             !(slots[1].kind == SL_JV_STR && strcmp(slots[1].u.s->data, "key") == 0))
        return sl_jerr(ctx, "You can only sort by either \"key\" or \"value\"");
    keys = sl_jalloc(ctx, (out->u.list->len + 1) * sizeof(*keys));
    if (keys == NULL)
        return -1;
    for (size_t i = 0; i < out->u.list->len; i++)
        if (sl_jsort_key(ctx, out->u.list->items[i].u.list->items[by], sl_jv_none(),
                         !sl_jv_truthy(slots[0]), &keys[i]) != 0)
            return -1;
    out->u.list->flavor = SL_JSEQ_LIST; /* the items, sorted into a list */
    return sl_jsort(ctx, out->u.list->items, keys, out->u.list->len, sl_jv_truthy(slots[2]));
}

static int sl_jf_unique(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_bool(false), sl_jv_none()}, all, *keys;

    if (sl_jbind(ctx, "unique", args, SL_JPARAMS("case_sensitive", "attribute"), slots) != 0 ||
        sl_jsort_prepare(ctx, v, slots[1], !sl_jv_truthy(slots[0]), &all, &keys) != 0 ||
        sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    for (size_t i = 0; i < all.u.list->len; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = sl_jv_eq(keys[i], keys[j]);
        if (!seen && sl_jlist_push(ctx, out->u.list, all.u.list->items[i]) != 0)
            return -1;
    }
    return 0;
}

static int sl_jf_minmax(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out,
                        bool max)
{
    sl_jv_t slots[2] = {sl_jv_bool(false), sl_jv_none()}, all, *keys;
    size_t best = 0;

    if (sl_jbind(ctx, max ? "max" : "min", args, SL_JPARAMS("case_sensitive", "attribute"),
                 slots) != 0 ||
        sl_jsort_prepare(ctx, v, slots[1], !sl_jv_truthy(slots[0]), &all, &keys) != 0)
        return -1;
    if (all.u.list->len == 0)
        return sl_jv_undef_why(ctx, out, "No aggregated item, sequence was empty.");
    for (size_t i = 1; i < all.u.list->len; i++) {
        int c;
        if (sl_jv_cmp(ctx, keys[i], keys[best], &c) != 0)
            return -1;
        if (max ? c > 0 : c < 0)
            best = i;
    }
    *out = all.u.list->items[best];
    return 0;
}

static int sl_jf_max(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_minmax(ctx, v, args, out, true);
}

static int sl_jf_min(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_minmax(ctx, v, args, out, false);
}

static int sl_jf_sum(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_none(), sl_jv_int(0)};
    sl_jlist_t *items;

    if (sl_jbind(ctx, "sum", args, SL_JPARAMS("attribute", "start"), slots) != 0 ||
        sl_jv_iterate(ctx, v, &items) != 0)
        return -1;
    *out = slots[1];
    for (size_t i = 0; i < items->len; i++) {
        sl_jv_t item = items->items[i];
        if (slots[0].kind != SL_JV_NONE && sl_jop_getpath(ctx, item, slots[0], &item) != 0)
            return -1;
        if (sl_jop_binary(ctx, SL_JOP_ADD, *out, item, out) != 0)
            return -1;
    }
    return 0;
}

/* ---- map, select, reject --------------------------------------------------------------------- */

/* Runs the filter or test named ARGS->pos[SKIP - 1] with the arguments after it. */
static int sl_japply_named(sl_jctx_t *ctx, sl_jv_t item, const sl_jargs_t *args, size_t skip,
                           bool test, sl_jv_t *out)
{
    sl_jv_t name = args->pos[skip - 1];
    sl_jargs_t rest = {.npos = args->npos - skip, .pos = args->pos + skip, .nkw = args->nkw,
                       .kwnames = args->kwnames, .kw = args->kw};

    if (name.kind != SL_JV_STR)
        return sl_jerr(ctx, "filter or test name must be a string");
    if (test) {
        const sl_jtest_t *t = sl_jtest_find(name.u.s->data);
        bool result;
        if (t == NULL)
            return sl_jerr(ctx, "no test named '%s'", name.u.s->data);
        if (t->fn(ctx, item, &rest, &result) != 0)
            return -1;
        *out = sl_jv_bool(result);
        return 0;
    }
    const sl_jfilter_t *f = sl_jfilter_find(name.u.s->data);
    if (f == NULL)
        return sl_jerr(ctx, "no filter named '%s'", name.u.s->data);
    return sl_jfilter_call(ctx, f, item, &rest, out);
}

static int sl_jf_map(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jlist_t *items;
    sl_jv_t attr = sl_jv_undef(), def = sl_jv_undef();

    if (sl_jv_iterate(ctx, v, &items) != 0 ||
        sl_jlist_new(ctx, items->len, SL_JV_LIST, out) != 0)
        return -1;
    if (args->npos == 0) {
        for (size_t k = 0; k < args->nkw; k++) {
            if (strcmp(args->kwnames[k], "attribute") == 0)
                attr = args->kw[k];
            else if (strcmp(args->kwnames[k], "default") == 0)
                def = args->kw[k];
            else
                return sl_jerr(ctx, "map() got an unexpected keyword argument '%s'",
                               args->kwnames[k]);
        }
        if (attr.kind == SL_JV_UNDEFINED)
            return sl_jerr(ctx, "map requires a filter argument");
    }
    for (size_t i = 0; i < items->len; i++) {
        sl_jv_t r;
        if (args->npos == 0) {
            if (sl_jop_getpath(ctx, items->items[i], attr, &r) != 0)
                return -1;
            if (r.kind == SL_JV_UNDEFINED && def.kind != SL_JV_UNDEFINED)
                r = def;
        } else if (sl_japply_named(ctx, items->items[i], args, 1, false, &r) != 0) {
            return -1;
        }
        out->u.list->items[out->u.list->len++] = r;
    }
    return 0;
}

static int sl_jselect(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out,
                      bool by_attr, bool keep)
{
    sl_jlist_t *items;
    size_t skip = by_attr ? 2 : 1;

    if (by_attr && args->npos == 0)
        return sl_jerr(ctx, "missing parameter for attribute name");
    if (sl_jv_iterate(ctx, v, &items) != 0 || sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    for (size_t i = 0; i < items->len; i++) {
        sl_jv_t probe = items->items[i], r;
        if (by_attr && sl_jop_getpath(ctx, probe, args->pos[0], &probe) != 0)
            return -1;
        if (args->npos >= skip) {
            if (sl_japply_named(ctx, probe, args, skip, true, &r) != 0)
                return -1;
        } else {
            r = sl_jv_bool(sl_jv_truthy(probe));
        }
        if (r.u.b == keep && sl_jlist_push(ctx, out->u.list, items->items[i]) != 0)
            return -1;
    }
    return 0;
}

static int sl_jf_select(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jselect(ctx, v, args, out, false, true);
}

static int sl_jf_reject(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jselect(ctx, v, args, out, false, false);
}

static int sl_jf_selectattr(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jselect(ctx, v, args, out, true, true);
}

static int sl_jf_rejectattr(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jselect(ctx, v, args, out, true, false);
}

/* batch(n, fill_with): lists of N items; slice(n, fill_with): N lists. */
static int sl_jf_chunks(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out,
                        bool slices)
{
    sl_jv_t slots[2] = {sl_jv_undef(), sl_jv_none()}, chunk = sl_jv_none();
    bool fill;
    sl_jlist_t *items;
    int64_t n;
    size_t per, extra, pos = 0;

    if (sl_jbind(ctx, slices ? "slice" : "batch", args,
                 SL_JPARAMS(slices ? "slices" : "linecount", "fill_with"), slots) != 0 ||
        sl_jv_iterate(ctx, v, &items) != 0 || sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    if (slots[0].kind != SL_JV_INT || slots[0].u.i <= 0)
        return sl_jerr(ctx, "%s needs a positive integer", slices ? "slice" : "batch");
    n = slots[0].u.i;
    fill = slots[1].kind != SL_JV_NONE;
    if (!slices) {
        for (size_t i = 0; i < items->len; i++) {
            if (chunk.kind == SL_JV_NONE &&
                (sl_jlist_new(ctx, 0, SL_JV_LIST, &chunk) != 0 ||
                 sl_jlist_push(ctx, out->u.list, chunk) != 0))
                return -1;
            if (sl_jlist_push(ctx, chunk.u.list, items->items[i]) != 0)
                return -1;
            if ((int64_t)chunk.u.list->len == n)
                chunk = sl_jv_none();
        }
        while (fill && chunk.kind != SL_JV_NONE && (int64_t)chunk.u.list->len < n)
            if (sl_jlist_push(ctx, chunk.u.list, slots[1]) != 0)
                return -1;
        return 0;
    }
    /* jinja2's do_slice: the first len % n slices get one more item. */
    per = items->len / (size_t)n;
    extra = items->len % (size_t)n;
    for (int64_t s = 0; s < n; s++) {
        size_t len = per + ((size_t)s < extra);
        if (sl_jlist_new(ctx, len + 1, SL_JV_LIST, &chunk) != 0 ||
            sl_jlist_push(ctx, out->u.list, chunk) != 0)
            return -1;
        for (size_t i = 0; i < len; i++)
            chunk.u.list->items[chunk.u.list->len++] = items->items[pos++];
        if (fill && extra != 0 && (size_t)s >= extra)
            chunk.u.list->items[chunk.u.list->len++] = slots[1];
    }
    return 0;
}

static int sl_jf_batch(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_chunks(ctx, v, args, out, false);
}

static int sl_jf_slice(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_chunks(ctx, v, args, out, true);
}

/* groupby(attribute): (value, items) pairs sorted by value. jinja2 returns
 * named tuples; these are plain tuples, so `for key, items in ...` works
 * and .grouper/.list do not. */
static int sl_jf_groupby(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_undef(), sl_jv_none(), sl_jv_bool(false)}, sorted, *keys;

    if (sl_jbind(ctx, "groupby", args, SL_JPARAMS("attribute", "default", "case_sensitive"),
                 slots) != 0 ||
        sl_jsort_prepare(ctx, v, slots[0], !sl_jv_truthy(slots[2]), &sorted, &keys) != 0 ||
        sl_jsort(ctx, sorted.u.list->items, keys, sorted.u.list->len, false) != 0 ||
        sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    for (size_t i = 0; i < sorted.u.list->len;) {
        sl_jv_t group, pair, key;
        size_t j = i;
        if (sl_jop_getpath(ctx, sorted.u.list->items[i], slots[0], &key) != 0)
            return -1;
        if (key.kind == SL_JV_UNDEFINED && slots[1].kind != SL_JV_NONE)
            key = slots[1];
        if (sl_jlist_new(ctx, 0, SL_JV_LIST, &group) != 0 ||
            sl_jlist_new(ctx, 2, SL_JV_TUPLE, &pair) != 0)
            return -1;
        for (; j < sorted.u.list->len && sl_jv_eq(keys[j], keys[i]); j++)
            if (sl_jlist_push(ctx, group.u.list, sorted.u.list->items[j]) != 0)
                return -1;
        pair.u.list->items[0] = key;
        pair.u.list->items[1] = group;
        pair.u.list->len = 2;
        if (sl_jlist_push(ctx, out->u.list, pair) != 0)
            return -1;
        i = j;
    }
    return 0;
}

const sl_jfilter_t sl_jfilters_seq[] = {
    {"batch", sl_jf_batch, true},
    {"groupby", sl_jf_groupby, false},
    {"slice", sl_jf_slice, true},
    {"dictsort", sl_jf_dictsort, false},
    {"map", sl_jf_map, true},
    {"max", sl_jf_max, false},
    {"min", sl_jf_min, false},
    {"reject", sl_jf_reject, true},
    {"rejectattr", sl_jf_rejectattr, true},
    {"select", sl_jf_select, true},
    {"selectattr", sl_jf_selectattr, true},
    {"sort", sl_jf_sort, false},
    {"sum", sl_jf_sum, false},
    {"unique", sl_jf_unique, true},
};

const size_t sl_jfilters_seq_count = sizeof(sl_jfilters_seq) / sizeof(sl_jfilters_seq[0]);
