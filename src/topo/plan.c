/* plan.c - the placement of each GPU: path classes, the nearest HCA, the core split;
 * the rules are written out in topo.h. */
#include "config.h"

#include "topo/topo_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---------------------------------------------------------------------------------------- */
/* Path classes                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* The non-I/O object an I/O object hangs from (I/O objects have no cpuset). */
static hwloc_obj_t sl_topo_local_obj(hwloc_obj_t obj)
{
    while (obj != NULL && obj->cpuset == NULL)
        obj = obj->parent;
    return obj;
}

/* PCI bridges strictly between obj and its ancestor `above`. */
static unsigned sl_topo_bridges_between(hwloc_obj_t obj, hwloc_obj_t above)
{
    unsigned count = 0;

    for (obj = obj->parent; obj != NULL && obj != above; obj = obj->parent)
        count += obj->type == HWLOC_OBJ_BRIDGE;
    return count;
}

sl_topo_path_t sl_topo_path_between(hwloc_obj_t a, hwloc_obj_t b)
{
    hwloc_obj_t common = NULL, la, lb;

    /* I/O objects have negative depths, so hwloc_get_common_ancestor_obj() does not apply:
     * compare the two chains of parents (a dozen levels at most). */
    for (hwloc_obj_t x = a; x != NULL && common == NULL; x = x->parent)
        for (hwloc_obj_t y = b; y != NULL; y = y->parent)
            if (x == y) {
                common = x;
                break;
            }
    if (common == NULL) /* objects of two topologies */
        return SL_TOPO_PATH_SYS;
    if (common == a || common == b || common->type == HWLOC_OBJ_PCI_DEVICE ||
        common->type == HWLOC_OBJ_OS_DEVICE)
        return SL_TOPO_PATH_PIX;
    if (common->type == HWLOC_OBJ_BRIDGE) {
        if (common->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST)
            return SL_TOPO_PATH_PHB;
        /* hwloc shows a PCIe switch as its upstream port with one bridge per downstream
         * port: devices on one switch meet at the upstream port through one bridge each. */
        return sl_topo_bridges_between(a, common) <= 1 && sl_topo_bridges_between(b, common) <= 1
                   ? SL_TOPO_PATH_PIX
                   : SL_TOPO_PATH_PXB;
    }
    /* Different PCI roots: one NUMA node or two? */
    la = sl_topo_local_obj(a);
    lb = sl_topo_local_obj(b);
    if (la != NULL && lb != NULL && la->nodeset != NULL && lb->nodeset != NULL &&
        hwloc_bitmap_intersects(la->nodeset, lb->nodeset))
        return SL_TOPO_PATH_NODE;
    return SL_TOPO_PATH_SYS;
}

/* ---------------------------------------------------------------------------------------- */
/* Cores                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Where GPU gpu's threads may run: the allowed CPUs local to it, else all allowed ones. */
static sl_status_t sl_topo_gpu_locality(const sl_topo_t *topo, const sl_topo_gpu_t *gpu,
                                        hwloc_bitmap_t locality)
{
    hwloc_obj_t local = sl_topo_local_obj(gpu->pci);

    if (local == NULL) {
        sl_error("GPU %u (%s): no non-I/O ancestor in the topology", gpu->index, gpu->busid);
        return SL_ERR_INTERNAL;
    }
    if (hwloc_bitmap_and(locality, local->cpuset, topo->allowed) != 0) {
        sl_error("hwloc_bitmap_and: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    if (hwloc_bitmap_iszero(locality)) {
        sl_warn("GPU %u (%s): none of the CPUs near it is allowed; using all allowed CPUs",
                gpu->index, gpu->busid);
        if (hwloc_bitmap_copy(locality, topo->allowed) != 0) {
            sl_error("hwloc_bitmap_copy: out of memory");
            return SL_ERR_NO_MEMORY;
        }
    }
    return SL_OK;
}

/* Adds the allowed part of core to cpuset. */
static sl_status_t sl_topo_add_core(hwloc_bitmap_t cpuset, hwloc_obj_t core,
                                    hwloc_const_cpuset_t locality, hwloc_bitmap_t scratch)
{
    if (hwloc_bitmap_and(scratch, core->cpuset, locality) != 0 ||
        hwloc_bitmap_or(cpuset, cpuset, scratch) != 0) {
        sl_error("hwloc_bitmap_and/or: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

/* Splits the cores of one locality among the n GPUs members[] (in index order), writing
 * their cpusets; the rule is in topo.h. */
static sl_status_t sl_topo_split_locality(const sl_topo_t *topo, hwloc_const_cpuset_t locality,
                                          const size_t *members, size_t n,
                                          hwloc_bitmap_t *cpusets)
{
    /* Some XML topologies have no Core objects: each PU is then its own core. */
    hwloc_obj_type_t type =
        hwloc_get_nbobjs_by_type(topo->hwloc, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int nbobjs = hwloc_get_nbobjs_by_type(topo->hwloc, type);
    unsigned total = nbobjs > 0 ? (unsigned)nbobjs : 0;
    size_t c = 0, reserve, usable, start;
    hwloc_bitmap_t scratch;
    hwloc_obj_t *cores;
    sl_status_t status = SL_OK;

    cores = calloc(total > 0 ? total : 1, sizeof(*cores));
    if (cores == NULL) {
        sl_error("out of memory for %u cores", total);
        return SL_ERR_NO_MEMORY;
    }
    scratch = hwloc_bitmap_alloc();
    if (scratch == NULL) {
        sl_error("hwloc_bitmap_alloc: out of memory");
        status = SL_ERR_NO_MEMORY;
        goto err_cores;
    }
    for (unsigned k = 0; k < total; k++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo->hwloc, type, k);
        if (core != NULL && hwloc_bitmap_intersects(core->cpuset, locality))
            cores[c++] = core;
    }
    if (c == 0) { /* locality is a non-empty set of PUs, each inside some core */
        sl_error("no core covers the CPUs of a GPU locality");
        status = SL_ERR_INTERNAL;
        goto err_scratch;
    }
    reserve = c >= 2 * n + 1 ? 1 : 0; /* a core for the I/O threads when there are plenty */
    usable = c - reserve;
    start = reserve;
    for (size_t k = 0; k < n && status == SL_OK; k++) {
        if (usable >= n) {
            size_t size = usable / n + (k < usable % n);
            for (size_t q = start; q < start + size && status == SL_OK; q++)
                status = sl_topo_add_core(cpusets[members[k]], cores[q], locality, scratch);
            start += size;
        } else { /* more GPUs than cores: neighbours share */
            status = sl_topo_add_core(cpusets[members[k]], cores[k * c / n], locality, scratch);
        }
    }
    hwloc_bitmap_free(scratch);
    free(cores);
    return status;

err_scratch:
    hwloc_bitmap_free(scratch);
err_cores:
    free(cores);
    return status;
}

/* Groups the GPUs by locality and splits each locality's cores. */
static sl_status_t sl_topo_split_cores(const sl_topo_t *topo, sl_topo_plan_t *plan)
{
    size_t n = plan->num_gpus, *members;
    hwloc_bitmap_t *localities;
    unsigned char *done;
    sl_status_t status = SL_OK;

    localities = calloc(n, sizeof(*localities));
    if (localities == NULL) {
        sl_error("out of memory for %zu GPU localities", n);
        return SL_ERR_NO_MEMORY;
    }
    members = calloc(n, sizeof(*members));
    done = calloc(n, sizeof(*done));
    if (members == NULL || done == NULL) {
        sl_error("out of memory for %zu GPU localities", n);
        status = SL_ERR_NO_MEMORY;
        goto err_arrays;
    }
    for (size_t i = 0; i < n && status == SL_OK; i++) {
        localities[i] = hwloc_bitmap_alloc();
        if (localities[i] == NULL) {
            sl_error("hwloc_bitmap_alloc: out of memory");
            status = SL_ERR_NO_MEMORY;
            break;
        }
        status = sl_topo_gpu_locality(topo, &topo->gpus[i], localities[i]);
    }
    for (size_t i = 0; i < n && status == SL_OK; i++) {
        size_t m = 0;
        if (done[i])
            continue;
        for (size_t j = i; j < n; j++)
            if (!done[j] && hwloc_bitmap_isequal(localities[i], localities[j])) {
                members[m++] = j;
                done[j] = 1;
            }
        status = sl_topo_split_locality(topo, localities[i], members, m, plan->cpusets);
    }
    for (size_t i = 0; i < n; i++)
        hwloc_bitmap_free(localities[i]);
err_arrays:
    free(done);
    free(members);
    free(localities);
    return status;
}

/* Host memory goes to the GPU's NUMA node; a GPU local to several gets those of its cores. */
static sl_status_t sl_topo_find_nodesets(const sl_topo_t *topo, sl_topo_plan_t *plan)
{
    for (size_t i = 0; i < plan->num_gpus; i++) {
        hwloc_obj_t local = sl_topo_local_obj(topo->gpus[i].pci);
        int failed;

        if (topo->gpus[i].numa >= 0)
            failed = hwloc_bitmap_copy(plan->nodesets[i], local->nodeset) != 0;
        else
            failed = hwloc_cpuset_to_nodeset(topo->hwloc, plan->cpusets[i],
                                             plan->nodesets[i]) != 0;
        if (failed) {
            sl_error("GPU %zu: cannot compute its NUMA nodeset (out of memory)", i);
            return SL_ERR_NO_MEMORY;
        }
    }
    return SL_OK;
}

/* The allowed CPUs no GPU got, or all of them. */
static sl_status_t sl_topo_find_io_cpuset(const sl_topo_t *topo, sl_topo_plan_t *plan)
{
    if (hwloc_bitmap_copy(plan->io_cpuset, topo->allowed) != 0)
        goto err_memory;
    for (size_t i = 0; i < plan->num_gpus; i++)
        if (hwloc_bitmap_andnot(plan->io_cpuset, plan->io_cpuset, plan->cpusets[i]) != 0)
            goto err_memory;
    if (hwloc_bitmap_iszero(plan->io_cpuset) &&
        hwloc_bitmap_copy(plan->io_cpuset, topo->allowed) != 0)
        goto err_memory;
    return SL_OK;

err_memory:
    sl_error("cannot compute the I/O cpuset: out of memory");
    return SL_ERR_NO_MEMORY;
}

/* ---------------------------------------------------------------------------------------- */
/* HCAs                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static int sl_topo_hca_usable(const sl_topo_hca_t *hca)
{
    return hca->port_state == SL_TOPO_PORT_UNKNOWN || hca->port_state == SL_TOPO_PORT_ACTIVE ||
           hca->port_state == SL_TOPO_PORT_ACTIVE_DEFER;
}

static sl_status_t sl_topo_assign_hcas(const sl_topo_t *topo, sl_topo_plan_t *plan)
{
    size_t n = plan->num_gpus, h = topo->num_hcas;
    sl_topo_path_t *path, *best;
    size_t *used;
    sl_status_t status = SL_OK;

    for (size_t i = 0; i < n; i++) {
        plan->gpus[i].hca = NULL;
        plan->gpus[i].path = SL_TOPO_PATH_NONE;
    }
    if (n == 0 || h == 0)
        return SL_OK;
    path = calloc(n * h, sizeof(*path)); /* [n, h]: GPU i to HCA k */
    best = calloc(n, sizeof(*best));
    used = calloc(h, sizeof(*used));
    if (path == NULL || best == NULL || used == NULL) {
        sl_error("out of memory for %zu x %zu GPU-HCA paths", n, h);
        status = SL_ERR_NO_MEMORY;
        goto err_arrays;
    }
    for (size_t k = 0; k < h; k++)
        if (!sl_topo_hca_usable(&topo->hcas[k]))
            sl_warn("HCA %s: port 1 is %s; no GPU will use it", topo->hcas[k].name,
                    sl_topo_port_state_name(topo->hcas[k].port_state));
    for (size_t i = 0; i < n; i++) {
        best[i] = SL_TOPO_PATH_NONE;
        for (size_t k = 0; k < h; k++) {
            path[i * h + k] = sl_topo_path_between(topo->gpus[i].pci, topo->hcas[k].osdev);
            if (sl_topo_hca_usable(&topo->hcas[k]) && path[i * h + k] < best[i])
                best[i] = path[i * h + k];
        }
    }
    /* Best class first, so that a GPU with an HCA on its own switch gets it before a GPU
     * for which that HCA is only one of several equally far ones. */
    for (int cls = SL_TOPO_PATH_PIX; cls < SL_TOPO_PATH_NONE; cls++) {
        for (size_t i = 0; i < n; i++) {
            size_t pick = h;
            if (best[i] != (sl_topo_path_t)cls)
                continue;
            /* hcas[] is in natural name order: the first of the least used wins ties */
            for (size_t k = 0; k < h; k++)
                if (sl_topo_hca_usable(&topo->hcas[k]) && path[i * h + k] == best[i] &&
                    (pick == h || used[k] < used[pick]))
                    pick = k;
            used[pick]++;
            plan->gpus[i].hca = &topo->hcas[pick];
            plan->gpus[i].path = best[i];
            sl_debug("GPU %zu (%s): HCA %s, %s", i, topo->gpus[i].busid, topo->hcas[pick].name,
                     sl_topo_path_name(best[i]));
        }
    }
err_arrays:
    free(used);
    free(best);
    free(path);
    return status;
}

/* ---------------------------------------------------------------------------------------- */
/* The plan                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static void sl_topo_free_bitmaps(hwloc_bitmap_t *bitmaps, size_t n)
{
    for (size_t i = 0; bitmaps != NULL && i < n; i++)
        hwloc_bitmap_free(bitmaps[i]);
    free(bitmaps);
}

/* calloc'ed array of n empty bitmaps. */
static sl_status_t sl_topo_alloc_bitmaps(size_t n, hwloc_bitmap_t **bitmaps_p)
{
    hwloc_bitmap_t *bitmaps = calloc(n > 0 ? n : 1, sizeof(*bitmaps));

    if (bitmaps == NULL) {
        sl_error("out of memory for %zu bitmaps", n);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        bitmaps[i] = hwloc_bitmap_alloc();
        if (bitmaps[i] == NULL) {
            sl_error("hwloc_bitmap_alloc: out of memory");
            sl_topo_free_bitmaps(bitmaps, i);
            return SL_ERR_NO_MEMORY;
        }
    }
    *bitmaps_p = bitmaps;
    return SL_OK;
}

sl_status_t sl_topo_plan_create(const sl_topo_t *topo, sl_topo_plan_t **plan_p)
{
    size_t n = topo->num_gpus;
    sl_topo_plan_t *plan;
    sl_status_t status;

    plan = calloc(1, sizeof(*plan));
    if (plan == NULL) {
        sl_error("out of memory for the placement plan");
        return SL_ERR_NO_MEMORY;
    }
    plan->topo = topo;
    plan->num_gpus = n;
    plan->gpus = calloc(n > 0 ? n : 1, sizeof(*plan->gpus));
    if (plan->gpus == NULL) {
        sl_error("out of memory for the placement of %zu GPUs", n);
        status = SL_ERR_NO_MEMORY;
        goto err_plan;
    }
    status = sl_topo_alloc_bitmaps(n, &plan->cpusets);
    if (status != SL_OK)
        goto err_gpus;
    status = sl_topo_alloc_bitmaps(n, &plan->nodesets);
    if (status != SL_OK)
        goto err_cpusets;
    plan->io_cpuset = hwloc_bitmap_alloc();
    if (plan->io_cpuset == NULL) {
        sl_error("hwloc_bitmap_alloc: out of memory");
        status = SL_ERR_NO_MEMORY;
        goto err_nodesets;
    }
    status = sl_topo_split_cores(topo, plan);
    if (status == SL_OK)
        status = sl_topo_find_nodesets(topo, plan);
    if (status == SL_OK)
        status = sl_topo_find_io_cpuset(topo, plan);
    if (status == SL_OK)
        status = sl_topo_assign_hcas(topo, plan);
    if (status != SL_OK)
        goto err_io;
    for (size_t i = 0; i < n; i++) {
        plan->gpus[i].gpu = &topo->gpus[i];
        plan->gpus[i].cpuset = plan->cpusets[i];
        plan->gpus[i].nodeset = plan->nodesets[i];
    }
    *plan_p = plan;
    return SL_OK;

err_io:
    hwloc_bitmap_free(plan->io_cpuset);
err_nodesets:
    sl_topo_free_bitmaps(plan->nodesets, n);
err_cpusets:
    sl_topo_free_bitmaps(plan->cpusets, n);
err_gpus:
    free(plan->gpus);
err_plan:
    free(plan);
    return status;
}

void sl_topo_plan_destroy(sl_topo_plan_t *plan)
{
    if (plan == NULL)
        return;
    hwloc_bitmap_free(plan->io_cpuset);
    sl_topo_free_bitmaps(plan->nodesets, plan->num_gpus);
    sl_topo_free_bitmaps(plan->cpusets, plan->num_gpus);
    free(plan->gpus);
    free(plan);
}

const sl_topo_t *sl_topo_plan_topo(const sl_topo_plan_t *plan)
{
    return plan->topo;
}

size_t sl_topo_plan_gpu_count(const sl_topo_plan_t *plan)
{
    return plan->num_gpus;
}

const sl_topo_placement_t *sl_topo_plan_gpu(const sl_topo_plan_t *plan, size_t i)
{
    return i < plan->num_gpus ? &plan->gpus[i] : NULL;
}

hwloc_const_cpuset_t sl_topo_plan_io_cpuset(const sl_topo_plan_t *plan)
{
    return plan->io_cpuset;
}
