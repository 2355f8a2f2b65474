/* idset.c - hashed id set; see idset.h. */
#include "config.h"

#include "io/idset.h"

#include <stdlib.h>
#include <xxhash.h>

#include "core/log.h"

struct sl_io_idset {
    uint64_t *slots; /* [cap] 0 = empty */
    size_t cap;      /* power of two */
    size_t count;
};

#define SL_IO_IDSET_MIN_CAP 1024

sl_status_t sl_io_idset_create(sl_io_idset_t **set_p)
{
    sl_io_idset_t *set = calloc(1, sizeof(*set));

    if (set == NULL)
        goto err_memory;
    set->cap = SL_IO_IDSET_MIN_CAP;
    set->slots = calloc(set->cap, sizeof(uint64_t));
    if (set->slots == NULL) {
        free(set);
        goto err_memory;
    }
    *set_p = set;
    return SL_OK;
err_memory:
    sl_error("out of memory creating the id set");
    return SL_ERR_NO_MEMORY;
}

void sl_io_idset_destroy(sl_io_idset_t *set)
{
    if (set == NULL)
        return;
    free(set->slots);
    free(set);
}

/* Inserts H (nonzero, absent) without growing. */
static void sl_io_idset_put(uint64_t *slots, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);

    while (slots[i] != 0)
        i = (i + 1) & (cap - 1);
    slots[i] = h;
}

static sl_status_t sl_io_idset_grow(sl_io_idset_t *set)
{
    size_t cap = set->cap * 2;
    uint64_t *slots = calloc(cap, sizeof(uint64_t));

    if (slots == NULL) {
        sl_error("out of memory growing the id set to %zu entries", cap);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < set->cap; i++) {
        if (set->slots[i] != 0)
            sl_io_idset_put(slots, cap, set->slots[i]);
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return SL_OK;
}

sl_status_t sl_io_idset_add(sl_io_idset_t *set, const char *id, size_t len, int *added_p)
{
    uint64_t h = XXH3_64bits(id, len);
    size_t i;

    if (h == 0)
        h = 1; /* 0 marks an empty slot */
    for (i = (size_t)h & (set->cap - 1); set->slots[i] != 0; i = (i + 1) & (set->cap - 1)) {
        if (set->slots[i] == h) {
            *added_p = 0;
            return SL_OK;
        }
    }
    if ((set->count + 1) * 10 > set->cap * 7) {
        sl_status_t st = sl_io_idset_grow(set);
        if (st != SL_OK)
            return st;
        sl_io_idset_put(set->slots, set->cap, h);
    } else {
        set->slots[i] = h;
    }
    set->count++;
    *added_p = 1;
    return SL_OK;
}

size_t sl_io_idset_count(const sl_io_idset_t *set)
{
    return set->count;
}

size_t sl_io_idset_bytes(const sl_io_idset_t *set)
{
    return set->cap * sizeof(uint64_t);
}
