/*
 * topo.h - placement: the cores, NUMA node and InfiniBand HCA of each local GPU.
 *
 * The life of a placement, in the order the calls are made:
 *
 *     sl_topo_t *topo;        sl_topo_plan_t *plan;        char *line;
 *     sl_topo_load(NULL, &topo);               // this machine (or an hwloc XML file)
 *     sl_topo_plan_create(topo, &plan);        // GPU -> NUMA node, cores, nearest HCA
 *     sl_topo_plan_print_table(plan, stdout);  // for people
 *     sl_topo_plan_to_json_string(plan, &line);   // one line of JSON, e.g. to allgather
 *     sl_topo_nccl_setenv(plan, SL_TOPO_ALL_GPUS); // NCCL_IB_HCA, unless the user set it
 *     ... in the worker thread of GPU i:
 *     sl_topo_bind_gpu_thread(plan, i, SL_TOPO_BIND_PREFERRED);
 *     ...
 *     free(line); sl_topo_plan_destroy(plan); sl_topo_destroy(topo);
 *
 * Discovery (sl_topo_load)
 *   GPUs are NVIDIA PCI devices (vendor 0x10de, class 0x0302 3D or 0x0300 display), numbered
 *   in PCI bus order (domain:bus:device.function), which is CUDA's order under
 *   CUDA_DEVICE_ORDER=PCI_BUS_ID. On the live machine of a CUDA build with a working driver,
 *   the CUDA runtime enumerates them instead (its ordinals, with CUDA_VISIBLE_DEVICES applied
 *   by the runtime) and each is matched to its PCI object by bus id.
 *   HCAs are OpenFabrics OS devices ("mlx5_0"); a NIC without one (plain Ethernet, storage)
 *   is not an HCA. The state and link layer of port 1 come from hwloc's Port1State and
 *   Port1LinkLayer attributes and, on the live machine of a build with libibverbs, from
 *   ibv_query_port(); when neither knows, they are "unknown".
 *
 * The plan (sl_topo_plan_create)
 *   Path classes, from near to far, as NCCL and `nvidia-smi topo -m` name them:
 *     PIX   both devices sit on one PCIe switch or bridge below the host bridge (at most one
 *           bridge between each device and the bridge they share);
 *     PXB   they share a PCIe bridge below the host bridge, across several bridges;
 *     PHB   they share only the PCI host bridge (the root complex);
 *     NODE  different host bridges of one NUMA node;
 *     SYS   different NUMA nodes (the path crosses the socket interconnect).
 *   HCA choice: only HCAs whose port 1 is ACTIVE (or of unknown state) are candidates; a
 *   port known to be down is never chosen. Each GPU gets a candidate of its best class. GPUs
 *   are assigned best class first (every GPU that has a PIX HCA, then PXB, ...), in index
 *   order within a class, so a GPU that merely ties never takes the HCA on another GPU's
 *   switch; among equally near HCAs the one used least so far wins, then the first in natural
 *   name order (mlx5_2 before mlx5_10). No candidate: no HCA, class "n/a".
 *   Cores: the GPUs that share a locality (normally one NUMA node: the cores of the non-I/O
 *   object the GPU hangs from, within the allowed CPUs) split its cores among them. With c
 *   cores and n GPUs there, when c >= 2n + 1 the first core is kept for the process's I/O
 *   threads; the u = c - 1 (else c) cores left go out in order, GPU k (k-th in index order)
 *   getting floor(u/n) of them plus one more for k < u mod n. With fewer cores than GPUs,
 *   GPU k shares core floor(k * c / n) with its neighbours. Every hyperthread of a core goes
 *   with its core.
 *   The I/O cpuset is every allowed CPU no GPU got (the reserved cores and the NUMA nodes
 *   without GPUs), or all allowed CPUs when the GPUs took everything.
 *   The split divides what this process is allowed: when several processes share a node, give
 *   each its own CPUs (srun --cpu-bind, cgroups) and its own GPUs (CUDA_VISIBLE_DEVICES).
 *
 * Ownership: a plan points into its topology; destroy the plan first. Objects returned by
 * const accessors belong to the topology or plan. All functions may be called from any
 * thread once the plan exists; sl_topo_nccl_setenv() must run before threads start.
 */
#ifndef SL_TOPO_TOPO_H
#define SL_TOPO_TOPO_H

#include <stddef.h>
#include <stdio.h>

#include <hwloc.h>
#include <jansson.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "0000:13:00.0" plus room for 32-bit domains and the NUL. */
#define SL_TOPO_BUSID_SIZE 20
/* Linux limits an InfiniBand device name to 64 bytes (IB_DEVICE_NAME_MAX). */
#define SL_TOPO_NAME_SIZE  64
/* Pass as the GPU to the NCCL functions to mean every GPU of the plan. */
#define SL_TOPO_ALL_GPUS   ((size_t)-1)

typedef struct sl_topo sl_topo_t;
typedef struct sl_topo_plan sl_topo_plan_t;

/* Port states, with the values of enum ibv_port_state and of /sys/class/infiniband/.../state. */
typedef enum {
    SL_TOPO_PORT_UNKNOWN      = -1,
    SL_TOPO_PORT_NOP          = 0,
    SL_TOPO_PORT_DOWN         = 1,
    SL_TOPO_PORT_INIT         = 2,
    SL_TOPO_PORT_ARMED        = 3,
    SL_TOPO_PORT_ACTIVE       = 4,
    SL_TOPO_PORT_ACTIVE_DEFER = 5,
} sl_topo_port_state_t;

typedef enum {
    SL_TOPO_LINK_UNKNOWN = 0,
    SL_TOPO_LINK_INFINIBAND,
    SL_TOPO_LINK_ETHERNET,
} sl_topo_link_layer_t;

/* Path classes, nearest first; the order is used for comparisons. */
typedef enum {
    SL_TOPO_PATH_PIX = 0,
    SL_TOPO_PATH_PXB,
    SL_TOPO_PATH_PHB,
    SL_TOPO_PATH_NODE,
    SL_TOPO_PATH_SYS,
    SL_TOPO_PATH_NONE, /* no HCA: printed "n/a" */
} sl_topo_path_t;

typedef enum {
    SL_TOPO_BIND_NONE = 0,  /* leave the thread where it is                         */
    SL_TOPO_BIND_PREFERRED, /* cores; memory preferably on the GPU's NUMA node:     */
                            /* HWLOC_MEMBIND_BIND (Linux MPOL_PREFERRED)            */
    SL_TOPO_BIND_STRICT,    /* cores; memory only on the GPU's NUMA node:           */
                            /* HWLOC_MEMBIND_BIND + HWLOC_MEMBIND_STRICT (MPOL_BIND) */
} sl_topo_bind_mode_t;

typedef struct sl_topo_options {
    /* An hwloc 2.x XML topology to plan for (tests, or a node you are not on); NULL: this
     * machine. With a file, every CPU of the file is allowed and binding does nothing. */
    const char *xml_path;
    /* CUDA_VISIBLE_DEVICES syntax: ordinals into the PCI bus order, in the order to number
     * them; parsing stops at the first ordinal out of range or repeated (as CUDA does); ""
     * hides every GPU. Entries that are not integers (GPU-UUIDs, MIG-...) cannot be mapped
     * without NVML: a warning, and every GPU is kept. NULL: the CUDA_VISIBLE_DEVICES variable
     * on the live machine, every GPU in an XML file. Ignored when the CUDA runtime
     * enumerates the GPUs (it has applied the variable itself). */
    const char *visible_devices;
    /* Plan only on these CPUs (hwloc list syntax, "0-15,32-47"), within the allowed ones;
     * NULL: all allowed CPUs (the cgroup's on the live machine). */
    const char *cpuset;
} sl_topo_options_t;

/* A GPU this process drives. */
typedef struct sl_topo_gpu {
    unsigned index;                  /* local CUDA ordinal                                  */
    char busid[SL_TOPO_BUSID_SIZE];  /* "0000:13:00.0"                                      */
    int numa;                        /* OS index of its NUMA node; -1 when local to several */
    hwloc_obj_t pci;                 /* its PCI device in sl_topo_hwloc()                   */
} sl_topo_gpu_t;

/* An RDMA device (OpenFabrics OS device) of the machine. */
typedef struct sl_topo_hca {
    char name[SL_TOPO_NAME_SIZE];    /* "mlx5_0"                                            */
    char busid[SL_TOPO_BUSID_SIZE];  /* of its PCI device; "" when it has none              */
    int numa;                        /* as for GPUs                                         */
    sl_topo_port_state_t port_state; /* of port 1                                           */
    sl_topo_link_layer_t link_layer; /* of port 1                                           */
    hwloc_obj_t osdev;               /* its OS device in sl_topo_hwloc()                    */
} sl_topo_hca_t;

/* The placement of one GPU. The bitmaps belong to the plan. */
typedef struct sl_topo_placement {
    const sl_topo_gpu_t *gpu;
    const sl_topo_hca_t *hca;        /* nearest usable HCA; NULL: none                      */
    sl_topo_path_t path;             /* GPU <-> hca; SL_TOPO_PATH_NONE without one          */
    hwloc_const_cpuset_t cpuset;     /* CPUs for the GPU's threads; never empty             */
    hwloc_const_nodeset_t nodeset;   /* NUMA node(s) for its host memory                    */
} sl_topo_placement_t;

/* --- topology and discovery (topo.c) ------------------------------------------------- */

/* Loads the topology of this machine or of options->xml_path (options may be NULL: this
 * machine, defaults) with I/O objects, and finds the GPUs and HCAs. Errors:
 * SL_ERR_NOT_FOUND / SL_ERR_IO (the file), SL_ERR_FORMAT (not an hwloc XML topology),
 * SL_ERR_INVALID_ARG (options->cpuset), SL_ERR_TOPOLOGY (hwloc failed), SL_ERR_NO_MEMORY.
 * The caller owns *topo_p: sl_topo_destroy(). */
sl_status_t sl_topo_load(const sl_topo_options_t *options, sl_topo_t **topo_p);

/* NULL is a no-op. */
void sl_topo_destroy(sl_topo_t *topo);

/* 1 for this machine, 0 for an XML file. */
int sl_topo_is_live(const sl_topo_t *topo);
/* "live", or the XML path as given. */
const char *sl_topo_source(const sl_topo_t *topo);
/* The host name hwloc recorded (or this machine's); NULL when unknown. */
const char *sl_topo_host(const sl_topo_t *topo);
/* The hwloc topology, for callers that need more; owned by topo, do not modify. */
hwloc_topology_t sl_topo_hwloc(const sl_topo_t *topo);
/* The CPUs plans may use. */
hwloc_const_cpuset_t sl_topo_allowed_cpuset(const sl_topo_t *topo);

size_t sl_topo_gpu_count(const sl_topo_t *topo);
/* GPU i (0 <= i < count), or NULL. */
const sl_topo_gpu_t *sl_topo_gpu(const sl_topo_t *topo, size_t i);
/* HCAs in natural name order. */
size_t sl_topo_hca_count(const sl_topo_t *topo);
const sl_topo_hca_t *sl_topo_hca(const sl_topo_t *topo, size_t i);

/* --- the plan (plan.c) ---------------------------------------------------------------- */

/* Places every GPU of topo; see the rules above. A machine without GPUs gets an empty plan.
 * topo must outlive the plan. Errors: SL_ERR_NO_MEMORY, SL_ERR_TOPOLOGY. */
sl_status_t sl_topo_plan_create(const sl_topo_t *topo, sl_topo_plan_t **plan_p);

/* NULL is a no-op. */
void sl_topo_plan_destroy(sl_topo_plan_t *plan);

const sl_topo_t *sl_topo_plan_topo(const sl_topo_plan_t *plan);
size_t sl_topo_plan_gpu_count(const sl_topo_plan_t *plan);
/* The placement of GPU i, or NULL. */
const sl_topo_placement_t *sl_topo_plan_gpu(const sl_topo_plan_t *plan, size_t i);
/* CPUs for the process's I/O threads (see above). */
hwloc_const_cpuset_t sl_topo_plan_io_cpuset(const sl_topo_plan_t *plan);

/* The path class between two I/O objects of one topology (PCI devices, OS devices). */
sl_topo_path_t sl_topo_path_between(hwloc_obj_t a, hwloc_obj_t b);

/* Names for output: "PIX" ... "SYS", "n/a"; "ACTIVE", "DOWN", ..., "unknown";
 * "InfiniBand", "Ethernet", "unknown". Never NULL. */
const char *sl_topo_path_name(sl_topo_path_t path);
const char *sl_topo_port_state_name(sl_topo_port_state_t state);
const char *sl_topo_link_layer_name(sl_topo_link_layer_t link);

/* NCCL_IB_HCA for GPU gpu, or for every GPU of the plan with SL_TOPO_ALL_GPUS (one process
 * per node: NCCL then picks among them per GPU): "=mlx5_3:1", or "=mlx5_0:1,mlx5_1:1"
 * listing each HCA once in GPU order. The leading '=' asks NCCL for exact names (without it
 * "mlx5_1" would also select mlx5_10..mlx5_19); ":1" is the port the plan looked at.
 * *value_p is the caller's, free(). SL_ERR_NOT_FOUND, not logged: no HCA for those GPUs.
 * SL_ERR_INVALID_ARG: gpu out of range. */
sl_status_t sl_topo_nccl_ib_hca(const sl_topo_plan_t *plan, size_t gpu, char **value_p);

/* Sets NCCL_IB_HCA to sl_topo_nccl_ib_hca(plan, gpu). A NCCL_IB_HCA already in the
 * environment is the user's choice: it is kept (and the log says so). No HCA: nothing set.
 * Not thread-safe (setenv): call before starting threads. */
sl_status_t sl_topo_nccl_setenv(const sl_topo_plan_t *plan, size_t gpu);

/* --- binding (bind.c) ------------------------------------------------------------------ */

/* "none", "preferred", "strict" (any case). SL_ERR_INVALID_ARG, not logged, otherwise;
 * *mode_p untouched then. */
sl_status_t sl_topo_bind_mode_parse(const char *text, sl_topo_bind_mode_t *mode_p);
const char *sl_topo_bind_mode_name(sl_topo_bind_mode_t mode);

/* Binds the calling thread to cpuset and, unless nodeset is NULL or empty, its future
 * memory allocations to nodeset (preferred or strict per mode). SL_TOPO_BIND_NONE does
 * nothing. A topology from an XML file describes another machine: a warning, nothing done,
 * SL_OK. Memory binding that the OS refuses falls back (strict -> preferred -> none) with a
 * warning; CPU binding that fails is SL_ERR_TOPOLOGY. */
sl_status_t sl_topo_bind_thread(const sl_topo_t *topo, hwloc_const_cpuset_t cpuset,
                                hwloc_const_nodeset_t nodeset, sl_topo_bind_mode_t mode);

/* sl_topo_bind_thread() with GPU gpu's placement. SL_ERR_INVALID_ARG: gpu out of range. */
sl_status_t sl_topo_bind_gpu_thread(const sl_topo_plan_t *plan, size_t gpu,
                                    sl_topo_bind_mode_t mode);

/* sl_topo_bind_thread() to the plan's I/O cpuset, memory not bound. */
sl_status_t sl_topo_bind_io_thread(const sl_topo_plan_t *plan, sl_topo_bind_mode_t mode);

/* --- output (render.c) ----------------------------------------------------------------- */

/* The plan as a JSON object (a new reference, the caller's: json_decref()):
 *   {"host": "gpu-node07" | null, "source": "live" | "FILE",
 *    "gpus": [{"index": 0, "busid": "0000:13:00.0", "numa": 0 | null,
 *              "cpuset": "1-4,33-36", "hca": "mlx5_0" | null, "path": "PIX" | null,
 *              "hca_port_state": "ACTIVE" | null, "hca_link_layer": "InfiniBand" | null}],
 *    "hcas": [{"name": "mlx5_0", "busid": "0000:14:00.0" | null, "numa": 0 | null,
 *              "port_state": "ACTIVE", "link_layer": "InfiniBand"}],
 *    "io_cpuset": "0,16,32,48"}
 * State and link layer are "unknown" strings when unknown, null only without an HCA. */
sl_status_t sl_topo_plan_to_json(const sl_topo_plan_t *plan, json_t **json_p);

/* The same object as one line of compact JSON with sorted keys and no newline, e.g. for an
 * allgather across ranks. *text_p is the caller's: free(). */
sl_status_t sl_topo_plan_to_json_string(const sl_topo_plan_t *plan, char **text_p);

/* Prints a plan object of the shape above (this process's, or a peer's after a gather) as a
 * table with a header line and an "I/O threads" line. SL_ERR_FORMAT (logged, naming the
 * field) when plan_json lacks a field; SL_ERR_IO when writing fails. */
sl_status_t sl_topo_print_table(const json_t *plan_json, FILE *out);

/* sl_topo_print_table() of sl_topo_plan_to_json(plan). */
sl_status_t sl_topo_plan_print_table(const sl_topo_plan_t *plan, FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* SL_TOPO_TOPO_H */
