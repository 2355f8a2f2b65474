/* bind.c - applying a plan to the calling thread: cores and memory; see topo.h. */
#include "config.h"

#include "topo/topo_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

static const char *const sl_topo_bind_names[] = {
    [SL_TOPO_BIND_NONE]      = "none",
    [SL_TOPO_BIND_PREFERRED] = "preferred",
    [SL_TOPO_BIND_STRICT]    = "strict",
};

sl_status_t sl_topo_bind_mode_parse(const char *text, sl_topo_bind_mode_t *mode_p)
{
    if (text == NULL)
        return SL_ERR_INVALID_ARG;
    for (size_t i = 0; i < sizeof(sl_topo_bind_names) / sizeof(sl_topo_bind_names[0]); i++) {
        if (strcasecmp(text, sl_topo_bind_names[i]) == 0) {
            *mode_p = (sl_topo_bind_mode_t)i;
            return SL_OK;
        }
    }
    return SL_ERR_INVALID_ARG;
}

const char *sl_topo_bind_mode_name(sl_topo_bind_mode_t mode)
{
    if (mode < SL_TOPO_BIND_NONE || mode > SL_TOPO_BIND_STRICT)
        return "?";
    return sl_topo_bind_names[mode];
}

/* Memory binding is an optimisation: when the OS refuses a policy (containers often forbid
 * set_mempolicy, some kernels lack it), fall back to a weaker one and say so.
 * hwloc 2 has no "preferred" policy: HWLOC_MEMBIND_BIND without HWLOC_MEMBIND_STRICT is
 * Linux's MPOL_PREFERRED (MPOL_PREFERRED_MANY for several nodes where the kernel has it),
 * and with it MPOL_BIND. */
static void sl_topo_bind_memory(const sl_topo_t *topo, hwloc_const_nodeset_t nodeset,
                                sl_topo_bind_mode_t mode, const char *nodes)
{
    int flags = HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET;

    if (hwloc_set_membind(topo->hwloc, nodeset, HWLOC_MEMBIND_BIND,
                          flags | (mode == SL_TOPO_BIND_STRICT ? HWLOC_MEMBIND_STRICT : 0)) == 0)
        return;
    if (mode == SL_TOPO_BIND_STRICT) {
        int err = errno;
        if (hwloc_set_membind(topo->hwloc, nodeset, HWLOC_MEMBIND_BIND, flags) == 0) {
            sl_warn("cannot bind memory strictly to NUMA node(s) %s (%s); preferring them "
                    "instead", nodes, strerror(err));
            return;
        }
    }
    sl_warn("cannot bind memory to NUMA node(s) %s (%s); memory goes where it is first touched",
            nodes, strerror(errno));
}

sl_status_t sl_topo_bind_thread(const sl_topo_t *topo, hwloc_const_cpuset_t cpuset,
                                hwloc_const_nodeset_t nodeset, sl_topo_bind_mode_t mode)
{
    char *cpus = NULL, *nodes = NULL;
    sl_status_t status;

    if (mode == SL_TOPO_BIND_NONE)
        return SL_OK;
    if (mode != SL_TOPO_BIND_PREFERRED && mode != SL_TOPO_BIND_STRICT) {
        sl_error("bind mode %d: not none, preferred or strict", (int)mode);
        return SL_ERR_INVALID_ARG;
    }
    if (cpuset == NULL || hwloc_bitmap_iszero(cpuset)) {
        sl_error("cannot bind a thread to an empty cpuset");
        return SL_ERR_INVALID_ARG;
    }
    if (!sl_topo_is_live(topo) || !hwloc_topology_is_thissystem(topo->hwloc)) {
        sl_warn("not binding: the topology (%s) is not this machine's", sl_topo_source(topo));
        return SL_OK;
    }
    status = sl_topo_bitmap_list(cpuset, &cpus);
    if (status != SL_OK)
        return status;
    if (hwloc_set_cpubind(topo->hwloc, cpuset, HWLOC_CPUBIND_THREAD) != 0) {
        sl_error("cannot bind thread to CPUs %s: hwloc_set_cpubind: %s", cpus, strerror(errno));
        status = SL_ERR_TOPOLOGY;
        goto err_cpus;
    }
    if (nodeset != NULL && !hwloc_bitmap_iszero(nodeset)) {
        status = sl_topo_bitmap_list(nodeset, &nodes);
        if (status != SL_OK)
            goto err_cpus;
        sl_topo_bind_memory(topo, nodeset, mode, nodes);
    }
    sl_debug("thread bound to CPUs %s, memory %s on NUMA node(s) %s", cpus,
             sl_topo_bind_mode_name(mode), nodes != NULL ? nodes : "(not bound)");
    free(nodes);
    free(cpus);
    return SL_OK;

err_cpus:
    free(cpus);
    return status;
}

sl_status_t sl_topo_bind_gpu_thread(const sl_topo_plan_t *plan, size_t gpu,
                                    sl_topo_bind_mode_t mode)
{
    if (gpu >= plan->num_gpus) {
        sl_error("cannot bind for GPU %zu: the plan has %zu GPU(s)", gpu, plan->num_gpus);
        return SL_ERR_INVALID_ARG;
    }
    return sl_topo_bind_thread(plan->topo, plan->gpus[gpu].cpuset, plan->gpus[gpu].nodeset,
                               mode);
}

sl_status_t sl_topo_bind_io_thread(const sl_topo_plan_t *plan, sl_topo_bind_mode_t mode)
{
    return sl_topo_bind_thread(plan->topo, plan->io_cpuset, NULL, mode);
}
