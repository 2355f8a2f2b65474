/* strmap.c - the string -> id hash tables of the vocabulary: open
 * addressing with linear probing, keys hashed with XXH3 and kept in one
 * arena, so a lookup touches one slot array and one key. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

static sl_status_t sl_tok_strmap_rehash(sl_tok_strmap_t *m, size_t n_slots)
{
    sl_tok_slot_t *slots = malloc(n_slots * sizeof(*slots));
    size_t mask = n_slots - 1;

    if (slots == NULL) {
        sl_error("tokenizer: out of memory for a %zu-slot vocabulary table", n_slots);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n_slots; i++)
        slots[i].id = -1;
    if (m->mask != 0) {
        for (size_t i = 0; i <= m->mask; i++) {
            size_t j;
            if (m->slots[i].id < 0)
                continue;
            j = (size_t)m->slots[i].hash & mask;
            while (slots[j].id >= 0)
                j = (j + 1) & mask;
            slots[j] = m->slots[i];
        }
    }
    free(m->slots);
    m->slots = slots;
    m->mask = mask;
    return SL_OK;
}

sl_status_t sl_tok_strmap_put(sl_tok_strmap_t *m, const char *key, size_t len, int32_t id)
{
    uint64_t h = XXH3_64bits(key, len);
    sl_status_t st;
    size_t j;

    if (len > UINT32_MAX || m->keys.len + len > UINT32_MAX) {
        sl_error("tokenizer: vocabulary text larger than 4 GiB");
        return SL_ERR_OVERFLOW;
    }
    /* Keep the load under one half so probes stay short. */
    if (m->mask == 0 || (m->count + 1) * 2 > m->mask + 1) {
        st = sl_tok_strmap_rehash(m, m->mask == 0 ? 64 : (m->mask + 1) * 2);
        if (st != SL_OK)
            return st;
    }
    j = (size_t)h & m->mask;
    while (m->slots[j].id >= 0) {
        sl_tok_slot_t *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->keys.data + s->off, key, len) == 0) {
            s->id = id;
            return SL_OK;
        }
        j = (j + 1) & m->mask;
    }
    m->slots[j] = (sl_tok_slot_t){.hash = h, .off = (uint32_t)m->keys.len,
                                  .len = (uint32_t)len, .id = id};
    st = sl_tok_buf_append(&m->keys, key, len);
    if (st != SL_OK) {
        m->slots[j].id = -1;
        return st;
    }
    m->count++;
    return SL_OK;
}

int32_t sl_tok_strmap_get(const sl_tok_strmap_t *m, const char *key, size_t len)
{
    uint64_t h;
    size_t j;

    if (m->mask == 0)
        return -1;
    h = XXH3_64bits(key, len);
    j = (size_t)h & m->mask;
    while (m->slots[j].id >= 0) {
        const sl_tok_slot_t *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(m->keys.data + s->off, key, len) == 0)
            return s->id;
        j = (j + 1) & m->mask;
    }
    return -1;
}

void sl_tok_strmap_free(sl_tok_strmap_t *m)
{
    free(m->slots);
    sl_tok_buf_free(&m->keys);
    m->slots = NULL;
    m->mask = m->count = 0;
}
