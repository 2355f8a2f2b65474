/* nccl.c - the plan's HCAs as NCCL_IB_HCA; see topo.h. */
#include "config.h"

#include "topo/topo_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* The port the plan looked at (sl_topo_hca_t describes port 1). */
#define SL_TOPO_NCCL_PORT ":1"

/* Whether GPUs [first, i) already listed GPU i's HCA. */
static int sl_topo_hca_listed(const sl_topo_plan_t *plan, size_t first, size_t i)
{
    for (size_t j = first; j < i; j++)
        if (plan->gpus[j].hca == plan->gpus[i].hca)
            return 1;
    return 0;
}

sl_status_t sl_topo_nccl_ib_hca(const sl_topo_plan_t *plan, size_t gpu, char **value_p)
{
    size_t first = gpu, last = gpu + 1, size = 2; /* '=' and the NUL */
    char *value, *end;

    if (gpu == SL_TOPO_ALL_GPUS) {
        first = 0;
        last = plan->num_gpus;
    } else if (gpu >= plan->num_gpus) {
        sl_error("NCCL_IB_HCA for GPU %zu: the plan has %zu GPU(s)", gpu, plan->num_gpus);
        return SL_ERR_INVALID_ARG;
    }
    for (size_t i = first; i < last; i++)
        if (plan->gpus[i].hca != NULL && !sl_topo_hca_listed(plan, first, i))
            size += strlen(plan->gpus[i].hca->name) + sizeof(SL_TOPO_NCCL_PORT); /* + ',' */
    if (size == 2)
        return SL_ERR_NOT_FOUND;
    value = malloc(size);
    if (value == NULL) {
        sl_error("out of memory for NCCL_IB_HCA");
        return SL_ERR_NO_MEMORY;
    }
    end = value;
    *end++ = '=';
    for (size_t i = first; i < last; i++) {
        if (plan->gpus[i].hca == NULL || sl_topo_hca_listed(plan, first, i))
            continue;
        end += sprintf(end, "%s%s" SL_TOPO_NCCL_PORT, end == value + 1 ? "" : ",",
                       plan->gpus[i].hca->name);
    }
    *value_p = value;
    return SL_OK;
}

sl_status_t sl_topo_nccl_setenv(const sl_topo_plan_t *plan, size_t gpu)
{
    const char *user = getenv("NCCL_IB_HCA");
    char *value = NULL;
    sl_status_t status;

    status = sl_topo_nccl_ib_hca(plan, gpu, &value);
    if (status == SL_ERR_NOT_FOUND) {
        sl_info("no HCA near the GPU(s): NCCL_IB_HCA %s", user != NULL ? "kept as set" : "not set");
        return SL_OK;
    }
    if (status != SL_OK)
        return status;
    if (user != NULL) {
        sl_info("NCCL_IB_HCA=%s is set: keeping the user's choice (the plan would give %s)", user,
                value);
        free(value);
        return SL_OK;
    }
    if (setenv("NCCL_IB_HCA", value, 0) != 0) {
        sl_error("setenv(NCCL_IB_HCA=%s): %s", value, strerror(errno));
        free(value);
        return SL_ERR_NO_MEMORY;
    }
    sl_info("NCCL_IB_HCA set to \"%s\": the HCAs nearest the GPUs", value);
    free(value);
    return SL_OK;
}
