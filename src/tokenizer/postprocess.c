/* postprocess.c - the `post_processor` of tokenizer.json, for one sequence:
 * TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel (offsets
 * only, so nothing here) and Sequence. Each reduces to ids put before and
 * after the encoded text when add_special is set. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* Appends the ids of one template item or [token, id] pair to *arr. */
static sl_status_t sl_tok_post_append(int32_t **arr, size_t *n, const int32_t *ids, size_t k)
{
    int32_t *p = realloc(*arr, (*n + k + 1) * sizeof(int32_t));

    if (p == NULL)
        return SL_ERR_NO_MEMORY;
    if (k > 0)
        memcpy(p + *n, ids, k * sizeof(int32_t));
    *arr = p;
    *n += k;
    return SL_OK;
}

/* TemplateProcessing's "single" template: the ids of the special tokens
 * before and after sequence A. */
static sl_status_t sl_tok_template_parse(const sl_tok_t *tok, const char *where, json_t *j,
                                         int32_t **pre, size_t *n_pre, int32_t **suf,
                                         size_t *n_suf)
{
    json_t *single = json_object_get(j, "single");
    json_t *specials = json_object_get(j, "special_tokens");
    bool seen_a = false;
    size_t i;
    json_t *item;
    sl_status_t st;

    if (!json_is_array(single)) {
        sl_error("%s: %s.single: expected an array", tok->path, where);
        return SL_ERR_FORMAT;
    }
    json_array_foreach(single, i, item) {
        json_t *sp = json_object_get(item, "SpecialToken");
        json_t *seq = json_object_get(item, "Sequence");
        if (seq != NULL) {
            const char *name = json_string_value(json_object_get(seq, "id"));
            if (name == NULL || strcmp(name, "A") != 0 || seen_a) {
                sl_error("%s: %s.single[%zu]: a single-sequence template holds sequence A "
                         "once", tok->path, where, i);
                return SL_ERR_FORMAT;
            }
            seen_a = true;
        } else if (sp != NULL) {
            const char *name = json_string_value(json_object_get(sp, "id"));
            json_t *def = name ? json_object_get(specials, name) : NULL;
            json_t *ids = json_object_get(def, "ids");
            size_t k;
            json_t *id;
            if (!json_is_array(ids)) {
                sl_error("%s: %s.single[%zu]: special token '%s' is not in special_tokens",
                         tok->path, where, i, name ? name : "(missing)");
                return SL_ERR_FORMAT;
            }
            json_array_foreach(ids, k, id) {
                int32_t v = (int32_t)json_integer_value(id);
                if (!json_is_integer(id) || json_integer_value(id) < 0 ||
                    json_integer_value(id) > INT32_MAX) {
                    sl_error("%s: %s.special_tokens.%s.ids[%zu]: bad id", tok->path, where,
                             name, k);
                    return SL_ERR_FORMAT;
                }
                st = seen_a ? sl_tok_post_append(suf, n_suf, &v, 1)
                            : sl_tok_post_append(pre, n_pre, &v, 1);
                if (st != SL_OK)
                    return st;
            }
        } else {
            sl_error("%s: %s.single[%zu]: expected SpecialToken or Sequence", tok->path, where, i);
            return SL_ERR_FORMAT;
        }
    }
    return SL_OK;
}

/* BertProcessing/RobertaProcessing: "cls" and "sep" are [token, id]. */
static sl_status_t sl_tok_pair_id(const sl_tok_t *tok, const char *where, json_t *j,
                                  const char *key, int32_t *id_p)
{
    json_t *pair = json_object_get(j, key);
    json_t *id = json_array_get(pair, 1);

    if (!json_is_array(pair) || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) > INT32_MAX) {
        sl_error("%s: %s.%s: expected [token, id]", tok->path, where, key);
        return SL_ERR_FORMAT;
    }
    *id_p = (int32_t)json_integer_value(id);
    return SL_OK;
}

static sl_status_t sl_tok_post_add(sl_tok_t *tok, const char *where, json_t *j,
                                   const char *type)
{
    int32_t *pre = NULL, *suf = NULL;
    size_t n_pre = 0, n_suf = 0;
    sl_status_t st = SL_OK;

    if (strcmp(type, "ByteLevel") == 0)
        return SL_OK; /* it only trims offsets */
    if (strcmp(type, "TemplateProcessing") == 0) {
        st = sl_tok_template_parse(tok, where, j, &pre, &n_pre, &suf, &n_suf);
    } else if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        int32_t cls, sep;
        st = sl_tok_pair_id(tok, where, j, "cls", &cls);
        if (st == SL_OK)
            st = sl_tok_pair_id(tok, where, j, "sep", &sep);
        if (st == SL_OK)
            st = sl_tok_post_append(&pre, &n_pre, &cls, 1);
        if (st == SL_OK)
            st = sl_tok_post_append(&suf, &n_suf, &sep, 1);
    } else {
        sl_error("%s: %s: post-processor type '%s' is not supported (supported: "
                 "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence)",
                 tok->path, where, type);
        return SL_ERR_UNSUPPORTED;
    }
    /* A later processor wraps what the earlier ones produced. */
    if (st == SL_OK)
        st = sl_tok_post_append(&pre, &n_pre, tok->post_prefix, tok->n_post_prefix);
    if (st == SL_OK)
        st = sl_tok_post_append(&tok->post_suffix, &tok->n_post_suffix, suf, n_suf);
    if (st != SL_OK) {
        free(pre);
        free(suf);
        return st;
    }
    free(tok->post_prefix);
    tok->post_prefix = pre;
    tok->n_post_prefix = n_pre;
    free(suf);
    for (size_t i = 0; i < n_pre; i++)
        if (pre[i] < 0 || (size_t)pre[i] >= tok->id_limit)
            goto bad_id;
    for (size_t i = 0; i < tok->n_post_suffix; i++)
        if (tok->post_suffix[i] < 0 || (size_t)tok->post_suffix[i] >= tok->id_limit)
            goto bad_id;
    return SL_OK;

bad_id:
    sl_error("%s: %s: a special token id is outside the vocabulary", tok->path, where);
    return SL_ERR_FORMAT;
}

sl_status_t sl_tok_postprocessor_parse(sl_tok_t *tok, json_t *j)
{
    if (j == NULL || json_is_null(j))
        return SL_OK;
    return sl_tok_each_component(tok, "post_processor", j, "processors", sl_tok_post_add);
}
