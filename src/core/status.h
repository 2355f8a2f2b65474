/*
 * status.h - the one error type of slinfer.
 *
 * Every function that can fail returns an sl_status_t: SL_OK (0) on success,
 * a negative code otherwise. The code says what kind of failure it was; the
 * details (file, field, errno, peer) are logged once, by the function that
 * detected the failure, and callers only propagate the code.
 */
#ifndef SL_CORE_STATUS_H
#define SL_CORE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SL_OK                 = 0,
    SL_ERR_INVALID_ARG    = -1,  /* bad flag, argument or parameter value     */
    SL_ERR_NO_MEMORY      = -2,  /* host allocation failed                    */
    SL_ERR_IO             = -3,  /* open/read/write/mmap failed (errno logged) */
    SL_ERR_FORMAT         = -4,  /* malformed input: JSON, safetensors, ...   */
    SL_ERR_UNSUPPORTED    = -5,  /* valid input we do not implement (yet)     */
    SL_ERR_NOT_FOUND      = -6,  /* missing file, key, tensor or command      */
    SL_ERR_OVERFLOW       = -7,  /* a size or index does not fit its type     */
    SL_ERR_CUDA           = -8,  /* CUDA runtime or cuBLAS call failed        */
    SL_ERR_NCCL           = -9,  /* NCCL call failed                          */
    SL_ERR_NO_DEVICE      = -10, /* no usable GPU                             */
    SL_ERR_BOOTSTRAP      = -11, /* PMIx or peer exchange failed              */
    SL_ERR_TOPOLOGY       = -12, /* hwloc discovery or binding failed         */
    SL_ERR_HDF5           = -13, /* HDF5 call failed                          */
    SL_ERR_MISMATCH       = -14, /* ranks disagree (version, args, model)     */
    SL_ERR_INTERRUPTED    = -15, /* stopped by a signal; resumable            */
    SL_ERR_INTERNAL       = -16, /* a broken invariant: a bug in slinfer      */
} sl_status_t;

/* Short lower-case name of a status ("invalid argument", "I/O error", ...).
 * Never NULL; unknown codes give "unknown status". */
const char *sl_status_string(sl_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* SL_CORE_STATUS_H */
