/*
 * bf16.h - bfloat16 <-> float conversion on the host.
 *
 * Weights are stored in bf16; the CPU backend computes in float32 and the
 * CUDA backend stores activations in bf16. Both round float -> bf16 the way
 * the GPU's __float2bfloat16 and PyTorch do: to nearest, ties to even, NaN
 * kept NaN (quiet), infinities kept.
 */
#ifndef SL_CORE_BF16_H
#define SL_CORE_BF16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t sl_bf16_t;

static inline float sl_bf16_to_float(sl_bf16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

static inline sl_bf16_t sl_float_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
        return (sl_bf16_t)((bits >> 16) | 0x0040u); /* NaN: keep sign, force quiet */
    /* Round to nearest even: add 0x7fff plus the lowest kept bit. */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (sl_bf16_t)(bits >> 16);
}

#endif /* SL_CORE_BF16_H */
