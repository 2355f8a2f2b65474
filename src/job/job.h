/*
 * job.h - a slinfer process's place in the job, from start to end.
 *
 * sl_job_start() does, in order, on every rank:
 *   1. the bootstrap (PMIx under srun, or one rank alone): rank, size, nodes;
 *   2. the preflight: every rank's version and job-wide arguments compared
 *      with rank 0's (see preflight.h); a mismatch stops every rank;
 *   3. placement: the hwloc topology of this node (or of --topology FILE),
 *      the plan of its GPUs (NUMA node, cores, nearest HCA), the share of the
 *      node's GPUs this process drives (all of them with one task per node;
 *      an equal slice with several), NCCL_IB_HCA for them, and the binding of
 *      the calling (I/O) thread.
 * Worker threads later bind themselves with sl_job_bind_gpu_thread().
 *
 * A failure in any step logs why and returns its status; the caller should
 * then call sl_job_abort() so no other rank waits for this one.
 */
#ifndef SL_JOB_JOB_H
#define SL_JOB_JOB_H

#include <stddef.h>

#include "bootstrap/bootstrap.h"
#include "comm/tp_link.h"
#include "core/status.h"
#include "engine/parallel.h"
#include "job/preflight.h"
#include "topo/topo.h"

typedef struct sl_job_options {
    const char *bootstrap;          /* "auto" (NULL), "pmix", "single"        */
    const char *topology_xml;       /* plan for this hwloc XML file, or NULL  */
    sl_topo_bind_mode_t cpu_bind;   /* SL_TOPO_BIND_PREFERRED by default      */
} sl_job_options_t;

typedef struct sl_job {
    sl_boot_t *boot;
    sl_topo_t *topo;
    sl_topo_plan_t *plan;
    sl_topo_bind_mode_t cpu_bind;
    size_t gpu_first;               /* this process drives plan GPUs          */
    size_t gpu_count;               /* [gpu_first, gpu_first + gpu_count)     */
    int live;                       /* the plan is of this machine (no --topology) */
} sl_job_t;

/* Defaults: auto bootstrap, live topology, preferred binding. */
void sl_job_options_init(sl_job_options_t *options);

/* Steps 1-3 above. `preflight` holds the command's job-wide arguments (the
 * version is already in it); it is compared across ranks and may be freed
 * after the call. On failure after the bootstrap, the job is aborted on every
 * rank (this function does not return). */
sl_status_t sl_job_start(const sl_job_options_t *options, const sl_preflight_t *preflight,
                         sl_job_t **job_p);

/* Binds the calling thread to the cores and memory of the job's local GPU
 * `i` (0 <= i < gpu_count), as --cpu-bind says. */
sl_status_t sl_job_bind_gpu_thread(const sl_job_t *job, size_t i);

/* GPUs this process drives when it sees VISIBLE (CUDA's count): its share
 * of the node's (several processes per node), at most VISIBLE. JOB may be
 * NULL (VISIBLE). */
int sl_job_local_gpus(const sl_job_t *job, int visible);

/* The CUDA ordinals of the first N local GPUs into DEVICES [n]: true when
 * the job knows them; false (DEVICES untouched) when JOB is NULL, drives
 * fewer GPUs, or plans for another machine (--topology): the caller then
 * uses 0, 1, ... */
bool sl_job_gpu_ordinals(const sl_job_t *job, int n, int *devices);

/*
 * Where this process stands in the DP x TP layout (engine/parallel.h) for
 * --tp TP when it drives LOCAL_GPUS GPUs (0: the CPU backend). Collective:
 * every rank calls it at the same point. The processes' GPU counts are
 * compared (a TP group spans processes only when they all drive the same
 * number), and where groups span processes each group's step link is opened
 * (*link_p; NULL where they do not). A failure is logged; the caller aborts.
 */
sl_status_t sl_job_span(const sl_job_t *job, int tp, int local_gpus, sl_span_t *span_p,
                        sl_tp_link_t **link_p);

/* The plan of this process as one line of JSON with its place in the job:
 * {"rank", "size", "hostname", "node_id", "num_nodes", "local_rank",
 *  "local_size", "cpu_bind", "drives": [gpu indices], "plan": {...topo...}}.
 * *text_p is the caller's (free()). */
sl_status_t sl_job_describe(const sl_job_t *job, char **text_p);

/* Ends the process's part of the job: barrier-free teardown of placement and
 * the bootstrap. NULL is a no-op. */
void sl_job_end(sl_job_t *job);

/* Stops every rank of the job with `exit_status` (never 0), logging `why`.
 * job may be NULL before the bootstrap exists. */
_Noreturn void sl_job_abort(sl_job_t *job, int exit_status, const char *why);

#endif /* SL_JOB_JOB_H */
