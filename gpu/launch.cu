/*
 * launch.cu - whether kernels may use programmatic dependent launch
 * (sl::launch in sl_device.cuh), and the per-device cache of such answers
 * (sl::device_answer): asked once per device.
 */
#include "config.h"

#include <stdlib.h>

#include "sl_device.cuh"

namespace {

/* Compiled like every kernel here: its binary version is theirs. */
__global__ void pdl_probe_kernel() {}

int pdl_answers[sl::kMaxDevices];

bool ask_pdl(int dev)
{
    /* A binary built for sm_80 only runs on Hopper through PTX without
     * griddepcontrol.wait: it must not be launched early. */
    const char *env = getenv("SLINFER_PDL");
    cudaFuncAttributes fa;
    int major = 0;
    return !(env != nullptr && env[0] == '0') &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ==
               cudaSuccess &&
           major >= 9 && cudaFuncGetAttributes(&fa, pdl_probe_kernel) == cudaSuccess &&
           fa.binaryVersion >= 90;
}

} // namespace

bool sl::device_answer(int (&answers)[kMaxDevices], bool (*ask)(int device))
{
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices)
        return false;
    int state = __atomic_load_n(&answers[dev], __ATOMIC_RELAXED); /* 0: not asked yet */
    if (state == 0) {
        state = ask(dev) ? 1 : 2;
        (void)cudaGetLastError(); /* a failed query is an answer, not an error to keep */
        __atomic_store_n(&answers[dev], state, __ATOMIC_RELAXED);
    }
    return state == 1;
}

bool sl::pdl_enabled()
{
    return device_answer(pdl_answers, ask_pdl);
}
