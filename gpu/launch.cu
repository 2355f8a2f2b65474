/*
 * launch.cu - whether kernels may use programmatic dependent launch
 * (sl::launch in sl_device.cuh): asked once per device.
 */
#include "config.h"

#include <stdlib.h>

#include "sl_device.cuh"

namespace {

/* Compiled like every kernel here: its binary version is theirs. */
__global__ void pdl_probe_kernel() {}

constexpr int kMaxDevices = 64;
int pdl_state[kMaxDevices]; /* 0: not asked yet, 1: on, 2: off */

} // namespace

bool sl::pdl_enabled()
{
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= kMaxDevices)
        return false;
    int state = __atomic_load_n(&pdl_state[dev], __ATOMIC_RELAXED);
    if (state == 0) {
        /* A binary built for sm_80 only runs on Hopper through PTX without
         * griddepcontrol.wait: it must not be launched early. */
        const char *env = getenv("SLINFER_PDL");
        cudaFuncAttributes fa;
        int major = 0;
        bool on = !(env != nullptr && env[0] == '0') &&
                  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ==
                      cudaSuccess &&
                  major >= 9 && cudaFuncGetAttributes(&fa, pdl_probe_kernel) == cudaSuccess &&
                  fa.binaryVersion >= 90;
        (void)cudaGetLastError(); /* a failed query is an answer, not an error to keep */
        state = on ? 1 : 2;
        __atomic_store_n(&pdl_state[dev], state, __ATOMIC_RELAXED);
    }
    return state == 1;
}
