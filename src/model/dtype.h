/*
 * dtype.h - element types of stored tensors (the safetensors names) and their
 * conversion to float32.
 *
 * Every safetensors dtype is known here so that a file's header can be
 * validated (dtype x shape == bytes) whatever it holds; which of them a model
 * may use is decided by the loader (BF16, F16, F32 today; F8 is recognised and
 * refused as "not supported yet").
 */
#ifndef SL_MODEL_DTYPE_H
#define SL_MODEL_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
    SL_DTYPE_INVALID = 0,
    SL_DTYPE_BF16,
    SL_DTYPE_F16,
    SL_DTYPE_F32,
    SL_DTYPE_F64,
    SL_DTYPE_F8_E4M3,
    SL_DTYPE_F8_E5M2,
    SL_DTYPE_I8,
    SL_DTYPE_U8,
    SL_DTYPE_I16,
    SL_DTYPE_U16,
    SL_DTYPE_I32,
    SL_DTYPE_U32,
    SL_DTYPE_I64,
    SL_DTYPE_U64,
    SL_DTYPE_BOOL,
} sl_dtype_t;

/* The safetensors spelling ("BF16", "F8_E4M3", ...); "?" for an invalid one. */
const char *sl_dtype_name(sl_dtype_t dtype);

/* Bytes per element; 0 for SL_DTYPE_INVALID. */
size_t sl_dtype_size(sl_dtype_t dtype);

/* The dtype spelled NAME (exact, case-sensitive as in safetensors), or
 * SL_DTYPE_INVALID. */
sl_dtype_t sl_dtype_from_name(const char *name);

/* The dtype of a config.json "dtype"/"torch_dtype" value ("bfloat16",
 * "float16", "float32"), or SL_DTYPE_INVALID. */
sl_dtype_t sl_dtype_from_torch_name(const char *name);

/* Whether the CPU backend computes from tensors of this dtype. */
int sl_dtype_is_compute(sl_dtype_t dtype);

/*
 * dst: [n] float32
 * src: [n] elements of DTYPE (BF16, F16 or F32), any alignment
 * Converts exactly (every BF16/F16 value is a float32).
 */
void sl_dtype_to_f32(float *dst, const void *src, sl_dtype_t dtype, size_t n);

/* IEEE half <-> float, round to nearest even. */
float sl_f16_to_float(uint16_t h);
uint16_t sl_float_to_f16(float f);

#endif /* SL_MODEL_DTYPE_H */
