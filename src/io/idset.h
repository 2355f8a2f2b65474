/*
 * idset.h - the set of record ids seen so far, for duplicate detection over
 * a whole input stream in little memory.
 *
 * Only a 64-bit hash of each id is kept (XXH3-64), in an open-addressing
 * table with linear probing kept at most 70% full, so the set costs 11.4 to
 * 22.9 bytes per id (8-byte slots; the table doubles when it passes 70%),
 * e.g. 32 MiB for 2 million ids, whatever the length of the ids. The price
 * is that two different ids with the same hash count as duplicates: with n
 * ids that happens with probability about n^2 / 2^65 (1e-7 for 2 million,
 * 3e-4 for 100 million).
 */
#ifndef SL_IO_IDSET_H
#define SL_IO_IDSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_io_idset sl_io_idset_t;

sl_status_t sl_io_idset_create(sl_io_idset_t **set_p);
void sl_io_idset_destroy(sl_io_idset_t *set);

/* Adds ID[0..LEN). *ADDED_P = 1 when it was new, 0 when already present.
 * Errors: SL_ERR_NO_MEMORY (growing the table). */
sl_status_t sl_io_idset_add(sl_io_idset_t *set, const char *id, size_t len, int *added_p);

size_t sl_io_idset_count(const sl_io_idset_t *set);
/* Bytes of the table, for the memory report. */
size_t sl_io_idset_bytes(const sl_io_idset_t *set);

#endif /* SL_IO_IDSET_H */
