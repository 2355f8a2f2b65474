/* cuda_gpus.c - the CUDA runtime's GPUs matched to hwloc PCI objects by bus id (CUDA builds
 * only). The runtime knows the ordinals the engine will use, after CUDA_VISIBLE_DEVICES and
 * device cgroups; hwloc knows where each sits. See topo_impl.h. */
#include "config.h"

#include "topo/topo_impl.h"

#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#include "core/log.h"

sl_status_t sl_topo_cuda_gpus(hwloc_topology_t hwloc, hwloc_obj_t **objs_p, size_t *count_p)
{
    hwloc_obj_t *objs;
    cudaError_t err;
    int count = 0;

    err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count <= 0) {
        sl_debug("cudaGetDeviceCount: %s; finding GPUs on the PCI bus instead",
                 err != cudaSuccess ? cudaGetErrorString(err) : "no device");
        return SL_ERR_NO_DEVICE;
    }
    objs = calloc((size_t)count, sizeof(*objs));
    if (objs == NULL) {
        sl_error("out of memory for %d CUDA devices", count);
        return SL_ERR_NO_MEMORY;
    }
    for (int i = 0; i < count; i++) {
        char busid[SL_TOPO_BUSID_SIZE];
        unsigned domain, bus, dev, func;

        err = cudaDeviceGetPCIBusId(busid, (int)sizeof(busid), i);
        if (err != cudaSuccess) {
            sl_warn("cudaDeviceGetPCIBusId(%d): %s; finding GPUs on the PCI bus instead", i,
                    cudaGetErrorString(err));
            goto err_objs;
        }
        /* "0000:13:00.0", or with an 8-digit domain on some drivers */
        if (sscanf(busid, "%x:%x:%x.%x", &domain, &bus, &dev, &func) != 4) {
            sl_warn("CUDA device %d: bus id \"%s\" not understood; finding GPUs on the PCI bus "
                    "instead", i, busid);
            goto err_objs;
        }
        objs[i] = hwloc_get_pcidev_by_busid(hwloc, domain, bus, dev, func);
        if (objs[i] == NULL) {
            sl_warn("CUDA device %d (%s) is not among hwloc's PCI devices; finding GPUs on the "
                    "PCI bus instead", i, busid);
            goto err_objs;
        }
    }
    *objs_p = objs;
    *count_p = (size_t)count;
    return SL_OK;

err_objs:
    free(objs);
    return SL_ERR_NOT_FOUND;
}
