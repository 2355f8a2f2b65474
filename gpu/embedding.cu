/*
 * embedding.cu - token embedding gather (vocab-parallel) and the gather of
 * the rows that need logits.
 *
 * Twin of src/backend/cpu/embedding.c: a rank holds rows [vocab_begin,
 * vocab_begin + rows) of the table and writes zeros for tokens outside that
 * range, so the all-reduce over ranks yields every token's row exactly. One
 * block per token, 16-byte copies when the row allows it.
 */
#include "config.h"

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

using sl::bf16;
using sl::Bf16x8;

/*
 * out:    [n, dim]
 * tokens: [n]
 * table:  [table_rows, dim]
 * VEC: elements per access (8: 16-byte packets, dim % 8 == 0; or 1).
 */
template <int VEC>
__global__ void embedding_kernel(bf16 *out, const int32_t *tokens, const bf16 *table,
                                 int64_t table_rows, int dim, int64_t vocab_begin)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const int64_t row = (int64_t)tokens[blockIdx.x] - vocab_begin;
    const bool mine = row >= 0 && row < table_rows;
    bf16 *o = out + (size_t)blockIdx.x * dim;
    const bf16 *src = table + (mine ? (size_t)row * dim : 0);

    if (VEC == 8) {
        const int packets = dim / 8;
        Bf16x8 zero;
#pragma unroll
        for (int k = 0; k < 8; k++)
            zero.v[k] = sl::to_bf(0.0f);
        for (int p = threadIdx.x; p < packets; p += blockDim.x)
            reinterpret_cast<Bf16x8 *>(o)[p] =
                mine ? reinterpret_cast<const Bf16x8 *>(src)[p] : zero;
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x)
            o[i] = mine ? src[i] : sl::to_bf(0.0f);
    }
}

/* out: [n, dim] = in[rows[i]] for each i; in: [*, dim]. */
template <int VEC>
__global__ void gather_rows_kernel(bf16 *out, const bf16 *in, const int32_t *rows, int dim)
{
    sl::pdl_wait(); /* first: see sl::launch */
    const bf16 *src = in + (size_t)rows[blockIdx.x] * dim;
    bf16 *o = out + (size_t)blockIdx.x * dim;

    if (VEC == 8) {
        for (int p = threadIdx.x; p < dim / 8; p += blockDim.x)
            reinterpret_cast<Bf16x8 *>(o)[p] = reinterpret_cast<const Bf16x8 *>(src)[p];
    } else {
        for (int i = threadIdx.x; i < dim; i += blockDim.x)
            o[i] = src[i];
    }
}

int threads_for(int dim, bool vec)
{
    int work = vec ? dim / 8 : dim;
    int t = ((work + 31) / 32) * 32;
    return t > 512 ? 512 : t < 32 ? 32 : t;
}

} // namespace

extern "C" sl_status_t sl_cuda_embedding_bf16(uint16_t *out, const int32_t *tokens, int n,
                                              const uint16_t *table, int64_t table_rows,
                                              int dim, int64_t vocab_begin, cudaStream_t stream)
{
    if (n < 0 || dim <= 0 || out == nullptr || tokens == nullptr ||
        (table == nullptr && table_rows > 0)) {
        sl_error("sl_cuda_embedding_bf16: invalid arguments (n=%d dim=%d)", n, dim);
        return SL_ERR_INVALID_ARG;
    }
    if (n == 0)
        return SL_OK;
    bool vec = dim % 8 == 0 && sl::aligned16(out) && sl::aligned16(table);
    bf16 *o = reinterpret_cast<bf16 *>(out);
    const bf16 *t = reinterpret_cast<const bf16 *>(table);
    if (vec)
        (void)sl::launch(embedding_kernel<8>, n, threads_for(dim, true), 0, stream, o, tokens, t,
                         table_rows, dim, vocab_begin);
    else
        (void)sl::launch(embedding_kernel<1>, n, threads_for(dim, false), 0, stream, o, tokens, t,
                         table_rows, dim, vocab_begin);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_embedding_bf16");
    return SL_OK;
}

extern "C" sl_status_t sl_cuda_gather_rows_bf16(uint16_t *out, const uint16_t *in,
                                                const int32_t *rows, int n, int dim,
                                                cudaStream_t stream)
{
    if (n < 0 || dim <= 0 || out == nullptr || in == nullptr || rows == nullptr) {
        sl_error("sl_cuda_gather_rows_bf16: invalid arguments (n=%d dim=%d)", n, dim);
        return SL_ERR_INVALID_ARG;
    }
    if (n == 0)
        return SL_OK;
    bool vec = dim % 8 == 0 && sl::aligned16(out) && sl::aligned16(in);
    bf16 *o = reinterpret_cast<bf16 *>(out);
    const bf16 *i = reinterpret_cast<const bf16 *>(in);
    if (vec)
        (void)sl::launch(gather_rows_kernel<8>, n, threads_for(dim, true), 0, stream, o, i, rows,
                         dim);
    else
        (void)sl::launch(gather_rows_kernel<1>, n, threads_for(dim, false), 0, stream, o, i, rows,
                         dim);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_gather_rows_bf16");
    return SL_OK;
}
