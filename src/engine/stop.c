/* stop.c - stop strings on text, stop tokens; see stop.h. */
#include "config.h"

#include "engine/stop.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void sl_stop_free(sl_stop_t *st)
{
    free(st->text);
    memset(st, 0, sizeof(*st));
}

size_t sl_stop_holdback(const char *text, size_t len, char *const *stops, int32_t n)
{
    size_t best = 0;

    for (int32_t i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        /* Proper prefixes only: a whole stop string would have matched. */
        size_t k = sl - 1 < len ? sl - 1 : len;
        for (; k > best; k--) {
            if (memcmp(text + len - k, stops[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

bool sl_stop_find(const char *text, size_t len, size_t old_len, char *const *stops, int32_t n,
                  size_t *pos_p)
{
    bool found = false;
    size_t best = 0;

    for (int32_t i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        /* Occurrences must end past OLD_LEN: start at old_len - sl + 1 or later. */
        size_t from = old_len + 1 > sl ? old_len + 1 - sl : 0;
        if (sl > len || from > len - sl)
            continue;
        const char *hit = memmem(text + from, len - from, stops[i], sl);
        if (hit != NULL && (!found || (size_t)(hit - text) < best)) {
            best = (size_t)(hit - text);
            found = true;
        }
    }
    if (found)
        *pos_p = best;
    return found;
}

sl_status_t sl_stop_push(sl_stop_t *st, const char *chunk, size_t n, char *const *stops,
                         int32_t nstops, bool check, bool *stopped_p)
{
    size_t old_len = st->len, pos;

    if (stopped_p != NULL)
        *stopped_p = false;
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 64;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *text = realloc(st->text, cap);
        if (text == NULL) {
            sl_error("out of memory for %zu bytes of generated text", cap);
            return SL_ERR_NO_MEMORY;
        }
        st->text = text;
        st->cap = cap;
    }
    memcpy(st->text + st->len, chunk, n);
    st->len += n;
    st->text[st->len] = '\0';
    if (check && sl_stop_find(st->text, st->len, old_len, stops, nstops, &pos)) {
        st->len = pos;
        st->text[pos] = '\0';
        st->cut = true;
        st->emitted = pos;
        if (stopped_p != NULL)
            *stopped_p = true;
        return SL_OK;
    }
    size_t keep = sl_stop_holdback(st->text, st->len, stops, nstops);
    /* Never take back what was emitted: holding back only grows the tail. */
    if (st->len - keep > st->emitted)
        st->emitted = st->len - keep;
    return SL_OK;
}

bool sl_stop_is_stop_token(int32_t token, const int32_t *eos, int32_t neos, bool ignore_eos,
                           const int32_t *stop_ids, int32_t nstop)
{
    for (int32_t i = 0; !ignore_eos && i < neos; i++)
        if (eos[i] == token)
            return true;
    for (int32_t i = 0; i < nstop; i++)
        if (stop_ids[i] == token)
            return true;
    return false;
}
