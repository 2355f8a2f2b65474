/* nfc.c - Unicode Normalization Form C (canonical decomposition, canonical
 * ordering, canonical composition; UAX #15), for the NFC normalizer. The
 * tables come from nfc_tables.c.
 *
 * Most text is already NFC: a quick check on each character (NFC_QC = Yes
 * and combining class 0) copies such text unchanged, and only the part from
 * the last starter before the first character that may change goes through
 * the full algorithm. */
#include "config.h"

#include <stdlib.h>

#include "core/log.h"
#include "tokenizer/nfc_tables.h"
#include "tokenizer/tok_internal.h"

enum {
    SL_HANGUL_S = 0xAC00, SL_HANGUL_L = 0x1100, SL_HANGUL_V = 0x1161, SL_HANGUL_T = 0x11A7,
    SL_HANGUL_LN = 19, SL_HANGUL_VN = 21, SL_HANGUL_TN = 28,
    SL_HANGUL_NN = SL_HANGUL_VN * SL_HANGUL_TN, SL_HANGUL_SN = SL_HANGUL_LN * SL_HANGUL_NN,
};

#define SL_NFC_NOT_YES 0x100

static inline unsigned sl_nfc_props(uint32_t cp)
{
    unsigned mask = (1u << sl_nfc_shift) - 1;
    if (cp < 0x300 || cp >= sl_nfc_limit)
        return 0;
    return sl_nfc_stage2[((unsigned)sl_nfc_stage1[cp >> sl_nfc_shift] << sl_nfc_shift) +
                         (cp & mask)];
}

static inline unsigned sl_nfc_ccc(uint32_t cp)
{
    return sl_nfc_props(cp) & 0xFF;
}

static const uint32_t *sl_nfc_find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = sl_nfc_n_decomp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sl_nfc_decomp[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sl_nfc_n_decomp && sl_nfc_decomp[lo][0] == cp ? sl_nfc_decomp[lo] : NULL;
}

/* The primary composite of A + B, or 0. */
static uint32_t sl_nfc_compose_pair(uint32_t a, uint32_t b)
{
    uint64_t key = ((uint64_t)a << 32) | b;
    size_t lo = 0, hi = sl_nfc_n_comp;

    if (a >= SL_HANGUL_L && a < SL_HANGUL_L + SL_HANGUL_LN && b >= SL_HANGUL_V &&
        b < SL_HANGUL_V + SL_HANGUL_VN)
        return SL_HANGUL_S + ((a - SL_HANGUL_L) * SL_HANGUL_VN + (b - SL_HANGUL_V)) * SL_HANGUL_TN;
    if (a >= SL_HANGUL_S && a < SL_HANGUL_S + SL_HANGUL_SN &&
        (a - SL_HANGUL_S) % SL_HANGUL_TN == 0 && b > SL_HANGUL_T && b < SL_HANGUL_T + SL_HANGUL_TN)
        return a + (b - SL_HANGUL_T);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t k = ((uint64_t)sl_nfc_comp[mid][0] << 32) | sl_nfc_comp[mid][1];
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < sl_nfc_n_comp && sl_nfc_comp[lo][0] == a && sl_nfc_comp[lo][1] == b)
        return sl_nfc_comp[lo][2];
    return 0;
}

typedef struct {
    uint32_t *cp;
    size_t n, cap;
} sl_nfc_cps_t;

static sl_status_t sl_nfc_push(sl_nfc_cps_t *v, uint32_t cp)
{
    if (v->n == v->cap) {
        sl_status_t st = sl_tok_grow((void **)&v->cp, &v->cap, v->n + 1, sizeof(uint32_t));
        if (st != SL_OK)
            return st;
    }
    v->cp[v->n++] = cp;
    return SL_OK;
}

/* Full canonical decomposition of CP (depth is bounded by the data: at most
 * four levels in any Unicode version). */
static sl_status_t sl_nfc_decompose(uint32_t cp, sl_nfc_cps_t *v)
{
    const uint32_t *d;
    sl_status_t st;

    if (cp >= SL_HANGUL_S && cp < SL_HANGUL_S + SL_HANGUL_SN) {
        uint32_t s = cp - SL_HANGUL_S, t = s % SL_HANGUL_TN;
        st = sl_nfc_push(v, SL_HANGUL_L + s / SL_HANGUL_NN);
        if (st == SL_OK)
            st = sl_nfc_push(v, SL_HANGUL_V + (s % SL_HANGUL_NN) / SL_HANGUL_TN);
        if (st == SL_OK && t != 0)
            st = sl_nfc_push(v, SL_HANGUL_T + t);
        return st;
    }
    d = cp >= 0xC0 ? sl_nfc_find_decomp(cp) : NULL;
    if (d == NULL)
        return sl_nfc_push(v, cp);
    st = sl_nfc_decompose(d[1], v);
    if (st == SL_OK && d[2] != 0)
        st = sl_nfc_decompose(d[2], v);
    return st;
}

/* Decompose, order and compose S[0..LEN) (valid UTF-8), appending to OUT. */
static sl_status_t sl_nfc_slow(const char *s, size_t len, sl_tok_buf_t *out)
{
    sl_nfc_cps_t v = {0};
    sl_status_t st = SL_OK;
    size_t i, w;
    uint32_t starter;
    size_t starter_pos;
    unsigned last_ccc;

    for (i = 0; i < len && st == SL_OK;) {
        uint32_t cp;
        i += sl_utf8_decode(s + i, &cp);
        st = sl_nfc_decompose(cp, &v);
    }
    if (st != SL_OK)
        goto out;
    /* Canonical ordering: a stable insertion sort of each run of
     * non-starters by combining class. */
    for (i = 1; i < v.n; i++) {
        uint32_t c = v.cp[i];
        unsigned cc = sl_nfc_ccc(c);
        size_t j = i;
        if (cc == 0)
            continue;
        while (j > 0 && sl_nfc_ccc(v.cp[j - 1]) > cc) {
            v.cp[j] = v.cp[j - 1];
            j--;
        }
        v.cp[j] = c;
    }
    /* Canonical composition. A first character that is not a starter gets
     * class 256, which blocks it from composing. */
    if (v.n > 0) {
        starter = v.cp[0];
        starter_pos = 0;
        last_ccc = sl_nfc_ccc(starter) ? 256 : 0;
        for (i = 1, w = 1; i < v.n; i++) {
            uint32_t c = v.cp[i];
            unsigned cc = sl_nfc_ccc(c);
            uint32_t comp = last_ccc == 256 ? 0 : sl_nfc_compose_pair(starter, c);
            if (comp != 0 && (last_ccc < cc || last_ccc == 0)) {
                v.cp[starter_pos] = starter = comp;
                continue;
            }
            if (cc == 0) {
                starter_pos = w;
                starter = c;
            }
            last_ccc = cc;
            v.cp[w++] = c;
        }
        v.n = w;
    }
    for (i = 0; i < v.n && st == SL_OK; i++) {
        char u[4];
        st = sl_tok_buf_append(out, u, sl_utf8_encode(v.cp[i], u));
    }
out:
    free(v.cp);
    return st;
}

sl_status_t sl_nfc_append(const char *s, size_t len, sl_tok_buf_t *out)
{
    size_t i = 0, last_inert = 0;
    sl_status_t st;

    while (i < len) {
        uint32_t cp;
        size_t n;
        if ((unsigned char)s[i] < 0x80) {
            last_inert = i++;
            continue;
        }
        n = sl_utf8_decode(s + i, &cp);
        if (sl_nfc_props(cp) != 0)
            break;
        last_inert = i;
        i += n;
    }
    if (i >= len)
        return sl_tok_buf_append(out, s, len);
    /* The last inert character before I may compose with what follows. */
    st = sl_tok_buf_append(out, s, last_inert);
    if (st != SL_OK)
        return st;
    return sl_nfc_slow(s + last_inert, len - last_inert, out);
}
