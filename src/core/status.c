/* status.c - names of the sl_status_t codes. */
#include "config.h"

#include "core/status.h"

const char *sl_status_string(sl_status_t status)
{
    switch (status) {
    case SL_OK:              return "success";
    case SL_ERR_INVALID_ARG: return "invalid argument";
    case SL_ERR_NO_MEMORY:   return "out of memory";
    case SL_ERR_IO:          return "I/O error";
    case SL_ERR_FORMAT:      return "malformed input";
    case SL_ERR_UNSUPPORTED: return "not supported";
    case SL_ERR_NOT_FOUND:   return "not found";
    case SL_ERR_OVERFLOW:    return "size overflow";
    case SL_ERR_CUDA:        return "CUDA error";
    case SL_ERR_NCCL:        return "NCCL error";
    case SL_ERR_NO_DEVICE:   return "no usable GPU";
    case SL_ERR_BOOTSTRAP:   return "bootstrap error";
    case SL_ERR_TOPOLOGY:    return "topology error";
    case SL_ERR_HDF5:        return "HDF5 error";
    case SL_ERR_MISMATCH:    return "ranks disagree";
    case SL_ERR_INTERRUPTED: return "interrupted";
    case SL_ERR_INTERNAL:    return "internal error";
    }
    return "unknown status";
}
