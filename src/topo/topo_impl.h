/*
 * topo_impl.h - what the files of src/topo/ share behind topo.h; not part of the API.
 */
#ifndef SL_TOPO_TOPO_IMPL_H
#define SL_TOPO_TOPO_IMPL_H

#include "topo/topo.h"

struct sl_topo {
    hwloc_topology_t hwloc;
    char *xml_path;         /* NULL: this machine                    */
    char *host;             /* NULL: unknown                         */
    hwloc_bitmap_t allowed; /* CPUs plans may use; never empty       */
    sl_topo_gpu_t *gpus;    /* [num_gpus], index order               */
    size_t num_gpus;
    sl_topo_hca_t *hcas;    /* [num_hcas], natural name order        */
    size_t num_hcas;
};

struct sl_topo_plan {
    const sl_topo_t *topo;
    sl_topo_placement_t *gpus; /* [num_gpus], same order as topo->gpus */
    hwloc_bitmap_t *cpusets;   /* [num_gpus], what gpus[i].cpuset shows */
    hwloc_bitmap_t *nodesets;  /* [num_gpus]                            */
    size_t num_gpus;
    hwloc_bitmap_t io_cpuset;
};

/* OS index of the single NUMA node obj is local to; -1 when several or none. Works for I/O
 * objects (through their non-I/O ancestor). */
int sl_topo_numa_of(hwloc_obj_t obj);

/* Natural order: digit runs compare as numbers, so "mlx5_2" < "mlx5_10". strcmp()-like. */
int sl_topo_name_cmp(const char *a, const char *b);

/* "0-3,8" for a bitmap; *text_p is the caller's (free()). Logs SL_ERR_NO_MEMORY. */
sl_status_t sl_topo_bitmap_list(hwloc_const_bitmap_t bitmap, char **text_p);

#ifdef SL_HAVE_CUDA
/* cuda_gpus.c: the PCI objects of the CUDA devices, in CUDA ordinal order. SL_ERR_NO_DEVICE
 * (logged at debug) when CUDA cannot count devices (no driver, none visible), SL_ERR_NOT_FOUND
 * (warned) when a device has no PCI object in hwloc: the caller then scans PCI instead.
 * *objs_p is the caller's: free(). */
sl_status_t sl_topo_cuda_gpus(hwloc_topology_t hwloc, hwloc_obj_t **objs_p, size_t *count_p);
#endif

#endif /* SL_TOPO_TOPO_IMPL_H */
