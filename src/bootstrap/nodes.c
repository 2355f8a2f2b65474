/* nodes.c - hostnames of all ranks -> node ids, local ranks, node count
 * (see sl_boot_nodes_map in boot_internal.h). Pure: no launcher, no I/O. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bootstrap/boot_internal.h"
#include "core/log.h"

typedef struct {
    const char *host;
    int rank;
} sl_boot_nodes_entry_t;

typedef struct {
    int first_rank; /* lowest rank on the host        */
    int start;      /* first index in the sorted list */
    int count;
} sl_boot_nodes_group_t;

static int sl_boot_nodes_cmp_entry(const void *a, const void *b)
{
    const sl_boot_nodes_entry_t *x = a, *y = b;
    int c = strcmp(x->host, y->host);

    if (c != 0)
        return c;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static int sl_boot_nodes_cmp_group(const void *a, const void *b)
{
    const sl_boot_nodes_group_t *x = a, *y = b;

    return (x->first_rank > y->first_rank) - (x->first_rank < y->first_rank);
}

sl_status_t sl_boot_nodes_map(int size, const char *const hostnames[],
                              int node_id[], int local_rank[],
                              int local_size[], int *num_nodes_p)
{
    sl_boot_nodes_entry_t *entries;
    sl_boot_nodes_group_t *groups;
    int ngroups = 0;

    if (size < 1 || hostnames == NULL) {
        sl_error("bootstrap: node map of %d ranks requested", size);
        return SL_ERR_INVALID_ARG;
    }
    for (int r = 0; r < size; r++) {
        if (hostnames[r] == NULL || hostnames[r][0] == '\0') {
            sl_error("bootstrap: rank %d has no hostname", r);
            return SL_ERR_INVALID_ARG;
        }
    }

    entries = malloc((size_t)size * sizeof(*entries));
    if (entries == NULL)
        goto err;
    groups = malloc((size_t)size * sizeof(*groups));
    if (groups == NULL)
        goto err_free_entries;

    for (int r = 0; r < size; r++) {
        entries[r].host = hostnames[r];
        entries[r].rank = r;
    }
    /* Sorted by (host, rank): each host is one run, its ranks ascending, so
     * the position in the run is the local rank. */
    qsort(entries, (size_t)size, sizeof(*entries), sl_boot_nodes_cmp_entry);
    for (int i = 0; i < size; i++) {
        if (i == 0 || strcmp(entries[i].host, entries[i - 1].host) != 0) {
            groups[ngroups].first_rank = entries[i].rank;
            groups[ngroups].start = i;
            groups[ngroups].count = 0;
            ngroups++;
        }
        groups[ngroups - 1].count++;
    }
    /* Node ids in order of first appearance by rank. */
    qsort(groups, (size_t)ngroups, sizeof(*groups), sl_boot_nodes_cmp_group);
    for (int g = 0; g < ngroups; g++) {
        for (int k = 0; k < groups[g].count; k++) {
            int r = entries[groups[g].start + k].rank;
            node_id[r] = g;
            local_rank[r] = k;
            local_size[r] = groups[g].count;
        }
    }
    *num_nodes_p = ngroups;
    free(groups);
    free(entries);
    return SL_OK;

err_free_entries:
    free(entries);
err:
    sl_error("bootstrap: out of memory mapping %d ranks to nodes", size);
    return SL_ERR_NO_MEMORY;
}
