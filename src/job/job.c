/* job.c - see job.h. */
#include "config.h"

#include "job/job.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/fault.h"
#include "core/log.h"

void sl_job_options_init(sl_job_options_t *options)
{
    memset(options, 0, sizeof(*options));
    options->bootstrap = "auto";
    options->cpu_bind = SL_TOPO_BIND_PREFERRED;
}

/* This process's GPUs as their PCI bus ids, space-separated (malloc'ed). */
static char *sl_job_gpu_ids(const sl_job_t *job)
{
    size_t n = sl_topo_plan_gpu_count(job->plan), used = 0;
    char *ids = malloc(n * SL_TOPO_BUSID_SIZE + 1);

    if (ids == NULL)
        return NULL;
    ids[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(ids + used, SL_TOPO_BUSID_SIZE + 1, "%s%s", i ? " " : "",
                                 sl_topo_plan_gpu(job->plan, i)->gpu->busid);
    return ids;
}

/* Whether the space-separated id lists A and B name a common GPU. */
static bool sl_job_ids_meet(const char *a, const char *b)
{
    char id[SL_TOPO_BUSID_SIZE];
    int used;

    while (sscanf(a, " %19s%n", id, &used) == 1) {
        if (strstr(b, id) != NULL)
            return true;
        a += used;
    }
    return false;
}

/*
 * Which of the GPUs it sees each process of a node drives. The processes of
 * a node compare what they see (one allgather over the job): when no other
 * process of the node sees a GPU this one sees, the launcher gave each its
 * own (srun --gpus-per-task, CUDA_VISIBLE_DEVICES per task) and each drives
 * all it sees; when they all see the same GPUs, each drives an equal slice
 * of them; anything else is an error.
 */
static sl_status_t sl_job_share_gpus(sl_job_t *job)
{
    sl_boot_t *boot = job->boot;
    size_t ngpus = sl_topo_plan_gpu_count(job->plan);
    size_t local_rank = (size_t)sl_boot_local_rank(boot);
    size_t local_size = (size_t)sl_boot_local_size(boot);
    int same = 0, own = 0, overlap = 0;
    char *mine = sl_job_gpu_ids(job);
    sl_boot_blobs_t *blobs = NULL;
    sl_status_t s;

    if (mine == NULL) {
        sl_error("out of memory listing this process's GPUs");
        return SL_ERR_NO_MEMORY;
    }
    if (sl_boot_size(boot) > 1 &&
        (s = sl_boot_allgatherv(boot, mine, strlen(mine), &blobs)) != SL_OK) {
        free(mine);
        return s;
    }
    for (int r = 0; blobs != NULL && r < blobs->count; r++) {
        if (r == sl_boot_rank(boot) ||
            strcmp(sl_boot_hostname_of(boot, r), sl_boot_hostname(boot)) != 0)
            continue;
        const char *theirs = blobs->data[r];
        if (strcmp(theirs, mine) == 0)
            same++;
        else if (!sl_job_ids_meet(mine, theirs) && !sl_job_ids_meet(theirs, mine))
            own++;
        else
            overlap++;
    }
    sl_boot_blobs_free(blobs);
    free(mine);
    if (overlap > 0 || (own > 0 && same > 0)) {
        sl_error("the %zu processes on this node see overlapping sets of GPUs: give each "
                 "its own (srun --gpus-per-task) or all the same ones",
                 local_size);
        return SL_ERR_INVALID_ARG;
    }
    job->gpu_first = 0;
    job->gpu_count = ngpus;
    if (local_size <= 1 || ngpus == 0 || same == 0)
        return SL_OK; /* alone here, no GPU, or each its own */
    if (ngpus < local_size) {
        sl_error("%zu processes on this node share %zu GPU%s: start at most one process per "
                 "GPU (srun --ntasks-per-node), or give each its own GPUs (--gpus-per-task)",
                 local_size, ngpus, ngpus == 1 ? "" : "s");
        return SL_ERR_INVALID_ARG;
    }
    if (ngpus % local_size != 0)
        sl_warn("%zu GPUs do not split evenly between %zu processes on this node", ngpus,
                local_size);
    job->gpu_first = local_rank * ngpus / local_size;
    job->gpu_count = (local_rank + 1) * ngpus / local_size - job->gpu_first;
    return SL_OK;
}

static sl_status_t sl_job_place(sl_job_t *job, const sl_job_options_t *options)
{
    sl_topo_options_t topo_options = {.xml_path = options->topology_xml};
    char *restrict_cpus = NULL;
    sl_status_t status;

    /* Several processes per node: plan within the CPUs the launcher gave this
     * one, so their cpusets do not overlap. */
    if (sl_boot_local_size(job->boot) > 1 && options->topology_xml == NULL) {
        hwloc_topology_t probe;
        hwloc_bitmap_t bound = hwloc_bitmap_alloc();
        if (bound != NULL && hwloc_topology_init(&probe) == 0) {
            if (hwloc_topology_load(probe) == 0 &&
                hwloc_get_cpubind(probe, bound, HWLOC_CPUBIND_PROCESS) == 0 &&
                hwloc_bitmap_list_asprintf(&restrict_cpus, bound) < 0)
                restrict_cpus = NULL;
            hwloc_topology_destroy(probe);
        }
        hwloc_bitmap_free(bound);
        topo_options.cpuset = restrict_cpus;
    }

    status = sl_topo_load(&topo_options, &job->topo);
    free(restrict_cpus);
    if (status != SL_OK)
        return status;
    if ((status = sl_topo_plan_create(job->topo, &job->plan)) != SL_OK)
        return status;
    if ((status = sl_job_share_gpus(job)) != SL_OK)
        return status;

    if (job->gpu_count > 0 && options->topology_xml == NULL) {
        /* One GPU: NCCL gets exactly its HCA; several: all of theirs. */
        status = sl_topo_nccl_setenv(job->plan, job->gpu_count == 1 ? job->gpu_first
                                                                   : SL_TOPO_ALL_GPUS);
        if (status != SL_OK && status != SL_ERR_NOT_FOUND)
            return status;
    }
    for (size_t i = 0; i < job->gpu_count; i++) {
        const sl_topo_placement_t *p = sl_topo_plan_gpu(job->plan, job->gpu_first + i);
        char *cpus = NULL;
        if (hwloc_bitmap_list_asprintf(&cpus, p->cpuset) < 0)
            cpus = NULL;
        sl_info("GPU %u (%s): NUMA node %d, cores %s, HCA %s (%s), binding %s",
                p->gpu->index, p->gpu->busid, p->gpu->numa, cpus ? cpus : "?",
                p->hca ? p->hca->name : "none", sl_topo_path_name(p->path),
                sl_topo_bind_mode_name(job->cpu_bind));
        free(cpus);
    }
    job->live = options->topology_xml == NULL;
    if (!job->live)
        return SL_OK; /* a plan for another machine: nothing to bind here */
    return sl_topo_bind_io_thread(job->plan, job->cpu_bind);
}

sl_status_t sl_job_start(const sl_job_options_t *options, const sl_preflight_t *preflight,
                         sl_job_t **job_p)
{
    sl_job_t *job = calloc(1, sizeof(*job));
    sl_status_t status;

    if (job == NULL) {
        sl_error("out of memory starting the job");
        return SL_ERR_NO_MEMORY;
    }
    job->cpu_bind = options->cpu_bind;

    status = sl_boot_init(options->bootstrap, &job->boot);
    if (status != SL_OK) {
        free(job);
        return status;
    }
    sl_debug("bootstrap %s: rank %d of %d, node %d of %d, local rank %d of %d",
             sl_boot_backend_name(job->boot), sl_boot_rank(job->boot), sl_boot_size(job->boot),
             sl_boot_node_id(job->boot), sl_boot_num_nodes(job->boot),
             sl_boot_local_rank(job->boot), sl_boot_local_size(job->boot));

    sl_fault_point("preflight", sl_boot_rank(job->boot));
    status = sl_preflight_run(preflight, job->boot);
    if (status != SL_OK)
        sl_job_abort(job, 1, status == SL_ERR_MISMATCH
                                 ? "ranks were started with different slinfer builds or arguments"
                                 : "the preflight exchange failed");

    sl_fault_point("placement", sl_boot_rank(job->boot));
    status = sl_job_place(job, options);
    if (status != SL_OK)
        sl_job_abort(job, 1, "placement failed on this node");

    *job_p = job;
    return SL_OK;
}

sl_status_t sl_job_bind_gpu_thread(const sl_job_t *job, size_t i)
{
    if (i >= job->gpu_count) {
        sl_error("no local GPU %zu: this process drives %zu", i, job->gpu_count);
        return SL_ERR_INVALID_ARG;
    }
    return sl_topo_bind_gpu_thread(job->plan, job->gpu_first + i, job->cpu_bind);
}

int sl_job_local_gpus(const sl_job_t *job, int visible)
{
    if (job == NULL || !job->live || job->gpu_count == 0 || (size_t)visible <= job->gpu_count)
        return visible;
    return (int)job->gpu_count;
}

bool sl_job_gpu_ordinals(const sl_job_t *job, int n, int *devices)
{
    if (job == NULL || !job->live || n < 0 || (size_t)n > job->gpu_count)
        return false;
    for (int i = 0; i < n; i++)
        devices[i] = (int)sl_topo_plan_gpu(job->plan, job->gpu_first + (size_t)i)->gpu->index;
    return true;
}

sl_status_t sl_job_span(const sl_job_t *job, int tp, int local_gpus, sl_span_t *span_p,
                        sl_tp_link_t **link_p)
{
    sl_boot_t *boot = job->boot;
    const int size = sl_boot_size(boot), rank = sl_boot_rank(boot);
    int32_t mine = local_gpus, *all = malloc((size_t)size * sizeof(*all));
    bool spans = false;
    sl_status_t s;

    if (all == NULL) {
        sl_error("out of memory for the layout of %d processes", size);
        return SL_ERR_NO_MEMORY;
    }
    if ((s = sl_boot_allgather(boot, &mine, sizeof(mine), all)) != SL_OK) {
        free(all);
        return s;
    }
    for (int r = 0; r < size; r++)
        spans = spans || (all[r] > 0 && all[r] < tp);
    for (int r = 0; spans && r < size; r++) {
        if (all[r] != all[0]) {
            sl_error("--tp %d spans processes, which must all drive the same number of GPUs: "
                     "rank 0 drives %d, rank %d (%s) %d",
                     tp, all[0], r, sl_boot_hostname_of(boot, r), all[r]);
            free(all);
            return SL_ERR_INVALID_ARG;
        }
    }
    free(all);
    if ((s = sl_parallel_span(size, rank, tp, local_gpus, span_p)) != SL_OK)
        return s;
    *link_p = NULL;
    if (!spans)
        return SL_OK;
    if ((s = sl_tp_link_open(boot, span_p->leader_rank, link_p)) != SL_OK)
        return s;
    sl_info("TP group %d of %d: TP ranks %d..%d of %d here, %s (rank %d leads)",
            span_p->dp_rank, span_p->dp, span_p->tp_first,
            span_p->tp_first + span_p->local_tp - 1, tp,
            span_p->leader ? "the leader" : "following", span_p->leader_rank);
    return SL_OK;
}

sl_status_t sl_job_describe(const sl_job_t *job, char **text_p)
{
    json_t *plan = NULL, *root = NULL, *drives = NULL;
    char *text;
    sl_status_t status = sl_topo_plan_to_json(job->plan, &plan);

    if (status != SL_OK)
        return status;
    drives = json_array();
    for (size_t i = 0; drives != NULL && i < job->gpu_count; i++)
        if (json_array_append_new(drives, json_integer((json_int_t)(job->gpu_first + i))) != 0)
            goto err_json;
    root = json_pack("{s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:s, s:o, s:o}",
                     "rank", sl_boot_rank(job->boot), "size", sl_boot_size(job->boot),
                     "hostname", sl_boot_hostname(job->boot), "node_id",
                     sl_boot_node_id(job->boot), "num_nodes", sl_boot_num_nodes(job->boot),
                     "local_rank", sl_boot_local_rank(job->boot), "local_size",
                     sl_boot_local_size(job->boot), "cpu_bind",
                     sl_topo_bind_mode_name(job->cpu_bind), "drives", drives, "plan", plan);
    drives = plan = NULL; /* "o" stole both references, even on failure */
    if (root == NULL)
        goto err_json;
    text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (text == NULL)
        goto err_json;
    *text_p = text;
    return SL_OK;

err_json:
    json_decref(drives);
    json_decref(plan);
    sl_error("out of memory describing the placement");
    return SL_ERR_NO_MEMORY;
}

void sl_job_end(sl_job_t *job)
{
    if (job == NULL)
        return;
    sl_topo_plan_destroy(job->plan);
    sl_topo_destroy(job->topo);
    sl_boot_finalize(job->boot);
    free(job);
}

_Noreturn void sl_job_abort(sl_job_t *job, int exit_status, const char *why)
{
    sl_boot_abort(job != NULL ? job->boot : NULL, exit_status, why);
}
