/* dtype.c - see dtype.h. */
#include "config.h"

#include "model/dtype.h"

#include <string.h>

#include "core/bf16.h"

static const struct {
    sl_dtype_t dtype;
    const char *name;
    size_t size;
} sl_dtypes[] = {
    {SL_DTYPE_BF16, "BF16", 2},       {SL_DTYPE_F16, "F16", 2},
    {SL_DTYPE_F32, "F32", 4},         {SL_DTYPE_F64, "F64", 8},
    {SL_DTYPE_F8_E4M3, "F8_E4M3", 1}, {SL_DTYPE_F8_E5M2, "F8_E5M2", 1},
    {SL_DTYPE_I8, "I8", 1},           {SL_DTYPE_U8, "U8", 1},
    {SL_DTYPE_I16, "I16", 2},         {SL_DTYPE_U16, "U16", 2},
    {SL_DTYPE_I32, "I32", 4},         {SL_DTYPE_U32, "U32", 4},
    {SL_DTYPE_I64, "I64", 8},         {SL_DTYPE_U64, "U64", 8},
    {SL_DTYPE_BOOL, "BOOL", 1},
};

#define SL_NUM_DTYPES (sizeof(sl_dtypes) / sizeof(sl_dtypes[0]))

const char *sl_dtype_name(sl_dtype_t dtype)
{
    for (size_t i = 0; i < SL_NUM_DTYPES; i++)
        if (sl_dtypes[i].dtype == dtype)
            return sl_dtypes[i].name;
    return "?";
}

size_t sl_dtype_size(sl_dtype_t dtype)
{
    for (size_t i = 0; i < SL_NUM_DTYPES; i++)
        if (sl_dtypes[i].dtype == dtype)
            return sl_dtypes[i].size;
    return 0;
}

sl_dtype_t sl_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < SL_NUM_DTYPES; i++)
        if (strcmp(sl_dtypes[i].name, name) == 0)
            return sl_dtypes[i].dtype;
    return SL_DTYPE_INVALID;
}

sl_dtype_t sl_dtype_from_torch_name(const char *name)
{
    if (strcmp(name, "bfloat16") == 0)
        return SL_DTYPE_BF16;
    if (strcmp(name, "float16") == 0 || strcmp(name, "half") == 0)
        return SL_DTYPE_F16;
    if (strcmp(name, "float32") == 0 || strcmp(name, "float") == 0)
        return SL_DTYPE_F32;
    return SL_DTYPE_INVALID;
}

int sl_dtype_is_compute(sl_dtype_t dtype)
{
    return dtype == SL_DTYPE_BF16 || dtype == SL_DTYPE_F16 || dtype == SL_DTYPE_F32;
}

float sl_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    float f;

    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf or NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign; /* signed zero */
    } else {
        /* Subnormal: man * 2^-24, exact in float32. */
        f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, sizeof(bits));
        bits |= sign;
    }
    memcpy(&f, &bits, sizeof(f));
    return f;
}

uint16_t sl_float_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t absb = bits & 0x7fffffffu;

    if (absb >= 0x7f800000u) /* inf or NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (absb > 0x7f800000u ? 0x200u : 0u));
    if (absb >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absb < 0x38800000u) {
        /* Result is subnormal (or zero): value / 2^-24, rounded to even. */
        float a;
        memcpy(&a, &absb, sizeof(a));
        float scaled = a * 0x1p24f; /* exact: power of two */
        uint32_t q = (uint32_t)scaled;
        float rem = scaled - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    /* Normal: rebias and round the 13 dropped mantissa bits to even. */
    uint32_t r = absb - 0x38000000u; /* exponent 127 -> 15 */
    r += 0x0fffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

void sl_dtype_to_f32(float *dst, const void *src, sl_dtype_t dtype, size_t n)
{
    const unsigned char *s = src;

    switch (dtype) {
    case SL_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, sizeof(h));
            dst[i] = sl_bf16_to_float(h);
        }
        break;
    case SL_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, sizeof(h));
            dst[i] = sl_f16_to_float(h);
        }
        break;
    case SL_DTYPE_F32:
        memcpy(dst, s, n * sizeof(float));
        break;
    default:
        /* Callers check sl_dtype_is_compute(); make misuse visible. */
        for (size_t i = 0; i < n; i++)
            dst[i] = __builtin_nanf("");
        break;
    }
}
