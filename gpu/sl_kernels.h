/*
 * sl_kernels.h - C interface to the CUDA kernels in gpu/.
 *
 * Each launcher enqueues one kernel on a stream and returns SL_OK, or logs
 * the launch error once and returns SL_ERR_CUDA. Errors that happen while
 * the kernel runs surface at the next synchronising call, which checks them.
 * Every kernel has a plain C twin in src/backend/cpu/ with the same
 * arguments; the GPU tests compare the two.
 */
#ifndef SL_GPU_KERNELS_H
#define SL_GPU_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "backend/sample.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Twin of sl_cpu_rmsnorm (src/backend/cpu/rmsnorm.h), all float32.
 * out [rows, dim] (may alias x), x [rows, dim], residual [rows, dim] updated
 * in place or NULL, weight [dim]. */
sl_status_t sl_cuda_rmsnorm_f32(float *out, const float *x, float *residual,
                                const float *weight, int rows, int dim, float eps,
                                cudaStream_t stream);

/* The same on bfloat16 storage with float32 arithmetic, rounded where
 * HuggingFace rounds: the residual sum is stored (and normalised) as bf16,
 * the normalised value is rounded to bf16 before the weight multiply. */
sl_status_t sl_cuda_rmsnorm_bf16(uint16_t *out, const uint16_t *x, uint16_t *residual,
                                 const uint16_t *weight, int rows, int dim, float eps,
                                 cudaStream_t stream);

/* ---- embedding.cu ----------------------------------------------------------- */

/* Twin of sl_cpu_embedding (src/backend/cpu/embedding.h).
 * out [n, dim] bf16; tokens [n] (device); table [table_rows, dim] bf16 holding
 * ids [vocab_begin, vocab_begin + table_rows); other ids give zero rows. */
sl_status_t sl_cuda_embedding_bf16(uint16_t *out, const int32_t *tokens, int n,
                                   const uint16_t *table, int64_t table_rows, int dim,
                                   int64_t vocab_begin, cudaStream_t stream);

/* out [n, dim] = in[rows[i], :] for each i; in [*, dim]; rows [n] (device). */
sl_status_t sl_cuda_gather_rows_bf16(uint16_t *out, const uint16_t *in, const int32_t *rows,
                                     int n, int dim, cudaStream_t stream);

/* ---- activation.cu ---------------------------------------------------------- */

/* Twin of sl_cpu_silu_mul: out [n, inter] = silu(gate) * up, where gate_up
 * [n, 2 * inter] holds each row's gate then its up (the fused GEMM). */
sl_status_t sl_cuda_silu_mul_bf16(uint16_t *out, const uint16_t *gate_up, int n, int inter,
                                  cudaStream_t stream);

/* Twin of sl_cpu_add_bias: x [rows, dim] bf16 += bias [dim] float32. */
sl_status_t sl_cuda_add_bias_bf16(uint16_t *x, const float *bias, int rows, int dim,
                                  cudaStream_t stream);

/* ---- rope_kv.cu ------------------------------------------------------------- */

/*
 * Twin of sl_cpu_qkv_rope_store (src/backend/cpu/rope_kv.h): per token,
 * q/k/v = the parts of qkv (+ bias), q and k per-head RMSNorm'd (when q_norm
 * and k_norm are given) and rotated by RoPE; q is written back into qkv, k
 * and v into the caches at the token's slot. The k and v parts of qkv are
 * left as they were.
 *   qkv        [n, (heads + 2 kv_heads) * head_dim] bf16
 *   bias       [(heads + 2 kv_heads) * head_dim] float32, or NULL
 *   q_norm, k_norm [head_dim] bf16, or both NULL
 *   cos_table, sin_table [positions, head_dim / 2] float32 (sl_rope_table_t)
 *   positions  [n]; slots [n] (device)
 *   k_cache, v_cache [slots, kv_heads, head_dim] bf16 (one layer)
 */
sl_status_t sl_cuda_qkv_rope_store_bf16(uint16_t *qkv, const float *bias, const uint16_t *q_norm,
                                        const uint16_t *k_norm, float eps,
                                        const float *cos_table, const float *sin_table,
                                        const int32_t *positions, const int64_t *slots, int n,
                                        int heads, int kv_heads, int head_dim,
                                        uint16_t *k_cache, uint16_t *v_cache,
                                        cudaStream_t stream);

/* ---- attention.cu ----------------------------------------------------------- */

#define SL_CUDA_ATTN_MAX_SPLITS 32
#define SL_CUDA_ATTN_MIN_SPLIT_KEYS 64 /* fewest keys a decode split takes */
#define SL_CUDA_ATTN_TILE 64 /* query tokens per prefill tile */

/* How a step's tokens are split between the two attention kernels (all
 * arrays in device memory). */
typedef struct sl_cuda_attn_meta {
    const int32_t *positions;     /* [tokens] */
    const int32_t *seq_of;        /* [tokens] sequence of each token */
    const int32_t *block_offset;  /* [seqs] first entry of each block table */
    const int32_t *block_tables;  /* flat: the block tables of all sequences */
    const int32_t *decode_tokens; /* [num_decode] tokens for the decode kernel */
    int32_t num_decode;
    int32_t splits;               /* key splits of the decode kernel, 1..MAX_SPLITS */
    const int32_t *tiles;         /* [num_tiles, 4]: first token, count (<= TILE),
                                     sequence, 0; consecutive tokens of one sequence */
    int32_t num_tiles;
} sl_cuda_attn_meta_t;

typedef struct sl_cuda_attn_shape {
    int32_t num_heads, num_kv_heads, head_dim, block_size;
    float scale;    /* 1 / sqrt(head_dim) */
    int64_t window; /* sliding window in positions; 0: none */
} sl_cuda_attn_shape_t;

/* head_dim the prefill (tensor core) kernel takes: 16, 32, 64, 128. */
int sl_cuda_attention_prefill_supported(int head_dim);
/* Which prefill kernel takes HEAD_DIM on the current device: "wgmma"
 * (head_dim 128 on Hopper with an sm_90a build; SLINFER_PREFILL_WGMMA=0
 * turns it off) or "mma.sync". */
const char *sl_cuda_attention_prefill_kernel(int head_dim);
/* head_dim the decode kernel (and so the backend) takes: also 256. */
int sl_cuda_attention_decode_supported(int head_dim);
/* Blocks of the decode kernel for this shape that GPU DEVICE holds at once
 * (its occupancy times its multiprocessors); 0 if the runtime cannot say. */
int sl_cuda_attention_resident_blocks(int device, int num_heads, int num_kv_heads,
                                      int head_dim);
/* Key splits for DECODE_TOKENS tokens whose contexts are at most MAX_KEYS
 * long: as many as keep the decode grid within RESIDENT blocks (one wave;
 * sl_cuda_attention_resident_blocks), at least SL_CUDA_ATTN_MIN_SPLIT_KEYS
 * keys each, and a power of two where rounding up to one would pass the
 * wave. */
int sl_cuda_attention_splits(int decode_tokens, int num_heads, int num_kv_heads, int head_dim,
                             int64_t max_keys, int resident);
/* Float32 workspace the decode kernel needs with SPLITS > 1. */
size_t sl_cuda_attention_workspace_floats(int decode_tokens, int num_heads, int head_dim,
                                          int splits);

/*
 * Twin of sl_cpu_paged_attention (src/backend/cpu/attention.h).
 *   out      [tokens, heads * head_dim] bf16; rows of the tokens in
 *            meta->decode_tokens and meta->tiles written
 *   q        [tokens, q_ld] bf16, head h at column h * head_dim
 *   k_cache, v_cache [slots, kv_heads, head_dim] bf16 of one layer
 *   workspace sl_cuda_attention_workspace_floats() floats, or NULL if 0
 */
sl_status_t sl_cuda_paged_attention_bf16(uint16_t *out, const uint16_t *q, int q_ld,
                                         const uint16_t *k_cache, const uint16_t *v_cache,
                                         const sl_cuda_attn_meta_t *meta,
                                         const sl_cuda_attn_shape_t *shape, float *workspace,
                                         cudaStream_t stream);

/* ---- gemv.cu ---------------------------------------------------------------- */

#define SL_CUDA_GEMV_MAX_ROWS 8
/* sl_cuda_gemv_bf16 cuts one row of x's product into 4 parts of columns, a
 * warp each, from rows this long on (more warps to stream a few long rows). */
#define SL_CUDA_GEMV_SPLIT_MIN_COLS 8192

/* Whether sl_cuda_gemv_bf16 takes these operands (1..8 rows, in_dim and ldx
 * multiples of 8, 16-byte aligned x and w). */
int sl_cuda_gemv_supported(int n, int in_dim, const void *x, int64_t ldx, const void *w);

/* From how many rows of x sl_cuda_gemv_bf16 uses the tensor cores (for
 * in_dim % 32 == 0): 2 unless SLINFER_GEMV_MMA_MIN_ROWS says. */
int sl_cuda_gemv_mma_min_rows(void);

/* Twin of sl_cpu_matmul without bias, for few rows:
 *   out [n, ldo] float32 (out_f32) or bf16, columns [0, out_dim)
 *   x   [n, ldx] bf16; w [out_dim, in_dim] bf16 */
sl_status_t sl_cuda_gemv_bf16(void *out, int out_f32, int64_t ldo, const uint16_t *x,
                              int64_t ldx, const uint16_t *w, int n, int out_dim, int in_dim,
                              cudaStream_t stream);

/* Whether the batch-1 GEMVs cap their blocks an SM so that they spread
 * evenly over the SMs in the fewest waves (gpu/gemv.cuh), process-wide; off
 * until set. SLINFER_GEMV_BALANCE (0/1), where set, overrides ON. */
void sl_cuda_gemv_set_balance(int on);
/* The balanced share: blocks an SM takes of GRID blocks when it holds
 * PER_SM, on SMS multiprocessors: GRID spread evenly over the fewest waves
 * (PER_SM where that is all it holds; 0 if unknown). */
int sl_cuda_gemv_balanced_blocks(int64_t grid, int per_sm, int sms);
/* Dynamic shared memory that lets CAP blocks on an SM of SMEM_PER_SM bytes,
 * each keeping RESERVED, and not CAP + 1 (with up to 1 KB of static shared
 * memory a block). */
size_t sl_cuda_gemv_balance_smem(int cap, int smem_per_sm, int reserved);

/* Batch 1: residual [1, out_dim] += x [1, in_dim] W^T, where the RMSNorm
 * after the projection runs inside the next GEMV (sl_cuda_gemv_norm_t): the
 * product rounded to bf16 as sl_cuda_gemv_bf16 stores it, then added as
 * sl_cuda_rmsnorm_bf16 adds x into the residual. The operands of
 * sl_cuda_gemv_supported (n = 1). */
sl_status_t sl_cuda_gemv_residual_bf16(uint16_t *residual, const uint16_t *x,
                                       const uint16_t *w, int out_dim, int in_dim,
                                       cudaStream_t stream);

/* What a GEMV needs to take a one-shot all-reduce's sum in its prologue
 * (allreduce.cu: sl_cuda_ar_set_gather); by value. */
typedef struct {
    const void *slots;     /* this rank's set: [nranks][stride] 16-byte packets */
    void *clear;           /* the set two calls ahead, emptied by this call */
    const int32_t *abort;  /* the group's abort and error words (device view) */
    int32_t *error;
    uint64_t timeout_ns;
    int64_t packets;       /* of the row: count / 8 */
    int64_t stride;        /* packets from one rank's slot to the next */
    int nranks, rank;
} sl_cuda_ar_gather_t;

/* The RMSNorm before a fused GEMV, done inside it: x is then the residual
 * row z [1, in_dim] (sl_cuda_gemv_residual_bf16 summed into it) and every
 * block of the GEMV normalises it into shared memory first, the same bits
 * as sl_cuda_rmsnorm_bf16(xn, ., z) followed by the GEMV of xn. At batch 1
 * that is one norm kernel fewer before each fused GEMV.
 *
 * With PARTIAL set (TP > 1), the all-reduce before the norm is in the
 * kernel too: x is the residual row before the sum, and every block makes
 * z = x + the group's sum of the ranks' PARTIAL rows (+ BIAS) from GATHER's
 * set (sl_cuda_ar_set_gather) before normalising it; block 0 stores z into
 * RESIDUAL_OUT (not x: other blocks still read x). The same bits as
 * sl_cuda_ar_rmsnorm_bf16(PARTIAL, BIAS, x, weight, xn) followed by the GEMV
 * of xn, xn then x. */
typedef struct {
    const uint16_t *weight;     /* [in_dim] bf16 */
    float eps;
    const uint16_t *partial;    /* [in_dim] this rank's part of the sum, or NULL */
    const float *bias;          /* [in_dim] float32 added to the sum, or NULL */
    uint16_t *residual_out;     /* [in_dim] z, with PARTIAL */
    sl_cuda_ar_gather_t gather; /* with PARTIAL */
} sl_cuda_gemv_norm_t;

/* Whether a fused GEMV takes a norm over Z with WEIGHT: one row, the
 * operands of sl_cuda_gemv_supported, in_dim at most 24576. */
int sl_cuda_gemv_norm_supported(int n, int in_dim, const void *z, const void *weight);

/* The fused GEMVs below run one warp per output row for any n (1..8): the
 * same products, bit for bit, as sl_cuda_gemv_bf16 where it runs one warp
 * per row too (n < sl_cuda_gemv_mma_min_rows(): batch 1, where fusing pays,
 * and rows of fewer than SL_CUDA_GEMV_SPLIT_MIN_COLS columns, which it does
 * not cut into parts);
 * elsewhere sl_cuda_gemv_bf16 sums in another order.
 *
 * SwiGLU's gate and up products and silu(gate) * up in one pass, for few
 * rows (the operands sl_cuda_gemv_supported takes; no bias); bit-identical
 * to sl_cuda_gemv_bf16 into [n, 2 inter] then sl_cuda_silu_mul_bf16:
 *   act [n, lda] bf16, columns [0, inter); x [n, ldx] bf16;
 *   w_gu [2 inter, in_dim] bf16 (gate rows, then up rows)
 * NORM (or NULL): x is the residual row, normalised in the kernel first.
 * So is RoPE's below. */
sl_status_t sl_cuda_gemv_silu_bf16(uint16_t *act, int64_t lda, const uint16_t *x,
                                   int64_t ldx, const uint16_t *w_gu, int n, int inter,
                                   int in_dim, const sl_cuda_gemv_norm_t *norm,
                                   cudaStream_t stream);

/* The QKV projection at decode fused with sl_cuda_qkv_rope_store_bf16 for a
 * model without q/k norm (one kernel fewer per layer): the same bits as
 * sl_cuda_gemv_bf16 into qkv [n, (heads + 2 kv_heads) head_dim] (ldo = that
 * width) followed by sl_cuda_qkv_rope_store_bf16 (BIAS, no q/k norm), except
 * that qkv's k and v columns are not written (attention reads k and v from
 * the caches). The operands of sl_cuda_gemv_supported, and head_dim a
 * multiple of 16. */
int sl_cuda_gemv_rope_supported(int n, int in_dim, const void *x, int64_t ldx, const void *w,
                                int head_dim);
sl_status_t sl_cuda_gemv_rope_store_bf16(uint16_t *qkv, const uint16_t *x, int64_t ldx,
                                         const uint16_t *w_qkv, const float *bias, int n,
                                         int in_dim, const float *cos_table,
                                         const float *sin_table, const int32_t *positions,
                                         const int64_t *slots, int heads, int kv_heads,
                                         int head_dim, uint16_t *k_cache, uint16_t *v_cache,
                                         const sl_cuda_gemv_norm_t *norm, cudaStream_t stream);

/* ---- sampling.cu ------------------------------------------------------------ */

typedef struct sl_cuda_argmax {
    float value;
    int32_t index;
} sl_cuda_argmax_t;

/* Column ranges a row is split into (at most SL_CUDA_ARGMAX_MAX_PARTS). */
#define SL_CUDA_ARGMAX_MAX_PARTS 64
int sl_cuda_argmax_parts(int cols);

/* Twin of sl_cpu_argmax (src/backend/cpu/argmax.h): out [rows] = the largest
 * value of each row of logits [rows, ld] (columns [0, cols)) and its column +
 * index_base; ties go to the lowest column. partial: device scratch of
 * [rows * sl_cuda_argmax_parts(cols)] entries. */
sl_status_t sl_cuda_argmax_f32(sl_cuda_argmax_t *out, const float *logits, int rows, int cols,
                               int64_t ld, int32_t index_base, sl_cuda_argmax_t *partial,
                               cudaStream_t stream);

/* ---- sampler.cu ------------------------------------------------------------- */

/* Where one row's history ids (in sl_cuda_sample_args_t.ids) and results are. */
typedef struct sl_cuda_sample_meta {
    int64_t prompt;        /* first of its prompt ids (repetition penalty)      */
    int64_t output;        /* first of its output ids (all penalties)           */
    int64_t suppress;      /* first of its EOS and stop ids (suppress_stop)     */
    int32_t prompt_len, output_len, num_suppress;
    int32_t result;        /* its first result in results[], one per sample     */
} sl_cuda_sample_meta_t;

/* The operands of sl_cuda_sample (every pointer in device memory). */
typedef struct sl_cuda_sample_args {
    /* Raw logits in vocab-parallel segments of seg_vocab ids (the all-gathered
     * LM head of TP ranks; one segment at TP 1): id v of row i is
     * logits[(v / seg_vocab) * seg_stride + i * ld + v % seg_vocab]. */
    const float *logits;
    int64_t ld, seg_stride;
    int32_t seg_vocab;
    int32_t vocab, rows;
    const sl_sample_row_t *params;       /* [rows]                                 */
    const sl_cuda_sample_meta_t *meta;   /* [rows]                                 */
    const int32_t *ids;                  /* the rows' history ids (meta's offsets)  */
    float *work;                         /* [rows, vocab] scratch                  */
    int32_t *marks;                      /* [rows, vocab] zero, and left zero      */
    sl_sample_result_t *results;         /* [meta[i].result + num_samples] each row */
} sl_cuda_sample_args_t;

/*
 * Twin of sl_sampler_sample (src/engine/sampler.h), the whole sampler for
 * each of ROWS logit rows, one block a row: penalties over the row's history,
 * suppression, temperature, top-k, top-p, min-p, then the argmax or
 * num_samples draws (RNG stream + j), with the raw logprobs and top N. The
 * logits are not modified. Deterministic: a row's results depend only on
 * its logits, parameters and history.
 */
sl_status_t sl_cuda_sample(const sl_cuda_sample_args_t *args, cudaStream_t stream);

/* ---- dummy.cu --------------------------------------------------------------- */

/* Twin of sl_model_random_fill (src/model/model.h) for one bf16 matrix shard:
 * dst [rows, ld] columns [0, cols) = the values of elements (row_begin + r,
 * col_begin + c) of a tensor of FULL_COLS columns; KEY = splitmix64(seed ^
 * fnv1a(name)); EMBED: the embedding's distribution, else DENOM =
 * sqrtf(full_cols) scales it. */
sl_status_t sl_cuda_random_fill_bf16(uint16_t *dst, int64_t rows, int64_t cols, int64_t ld,
                                     uint64_t key, int embed, float denom, int64_t row_begin,
                                     int64_t col_begin, int64_t full_cols, cudaStream_t stream);

/* ---- allreduce.cu ----------------------------------------------------------- */

/* A one-shot all-reduce over peer memory among the GPUs of this process, for
 * small bf16 messages (design and why it is safe in CUDA graphs: allreduce.cu). */
#define SL_CUDA_AR_MAX_RANKS 8
#define SL_CUDA_AR_DEFAULT_MAX_BYTES ((size_t)512 << 10)

typedef struct sl_cuda_ar sl_cuda_ar_t;

/* *ok_p = 1 when every pair of DEVICES [n] can access each other's memory
 * (cudaDeviceCanAccessPeer); else 0, the first pair without logged at debug. */
sl_status_t sl_cuda_ar_p2p_ok(const int *devices, int n, int *ok_p);

/* How a rank learns that its peers' packets have arrived (allreduce.cu). */
typedef enum {
    SL_CUDA_AR_BARRIER, /* a flag per block and peer after the pushes, then the reads */
    SL_CUDA_AR_LAMPORT, /* no flags: slots start empty (a NaN pattern no push holds),
                           readers wait for each packet's lanes and empty it again */
} sl_cuda_ar_protocol_t;

/* The backend's choice unless SLINFER_CUSTOM_ALLREDUCE_PROTOCOL says. */
#define SL_CUDA_AR_DEFAULT_PROTOCOL SL_CUDA_AR_LAMPORT

/* The group of ranks 0..nranks-1 (1..8) on DEVICES [nranks] (P2P): enables
 * peer access between every pair of distinct GPUs, gives each rank a buffer
 * on its GPU for messages up to MAX_BYTES. A spin that waits longer than
 * TIMEOUT_S for a peer gives up (sl_cuda_ar_failed). Made from one thread;
 * the caller's current device is kept. Ranks may share a GPU where their
 * kernels can all run at once on it (tests); a group of one sums nothing
 * but runs every kernel of the protocol (TP > 1's path on one GPU:
 * SLINFER_AR_LOOPBACK). */
sl_status_t sl_cuda_ar_create(const int *devices, int nranks, size_t max_bytes,
                              double timeout_s, sl_cuda_ar_protocol_t protocol,
                              sl_cuda_ar_t **ar_p);
/* After every rank's stream is idle. NULL is fine. */
void sl_cuda_ar_destroy(sl_cuda_ar_t *ar);
size_t sl_cuda_ar_max_bytes(const sl_cuda_ar_t *ar);

/* Whether sl_cuda_ar_bf16 takes these operands: 1 <= count <= max_bytes / 2,
 * in and out 16-byte aligned. The same answer on every rank for the same
 * count and aligned buffers; AR may be NULL (0). */
int sl_cuda_ar_supported(const sl_cuda_ar_t *ar, const void *in, const void *out, size_t count);

/* Rank RANK's part of one all-reduce: out [count] = the sum over the ranks of
 * their in [count] (float32 in rank order, rounded once; the same bits on
 * every rank); out may alias in. Called with RANK's device current, on a
 * stream of it; every rank must make the same calls (same counts, same
 * order), each rank's calls ordered on one stream. Capturable in a graph. */
sl_status_t sl_cuda_ar_bf16(sl_cuda_ar_t *ar, int rank, const uint16_t *in, uint16_t *out,
                            size_t count, cudaStream_t stream);

/* Whether sl_cuda_ar_rmsnorm_bf16 takes these operands: n >= 1 rows of h (a
 * multiple of 8) elements, n * h <= max_bytes / 2, x, residual, weight, xn
 * (and bias unless NULL) 16-byte aligned, x, residual and xn distinct. The
 * same answer on every rank for the same n, h and aligned buffers; AR may be
 * NULL (0). */
int sl_cuda_ar_rmsnorm_supported(const sl_cuda_ar_t *ar, const void *x, const void *bias,
                                 const void *residual, const void *weight, const void *xn, int n,
                                 int h);

/* Where a projection pushes its output into the peers' slots of the next
 * all-reduce itself (sl_cuda_gemv_push_bf16), so that the all-reduce kernel
 * only waits and sums (PUSHED of sl_cuda_ar_rmsnorm_bf16): the rows leave
 * for the peers as the GEMV finishes them, not after the next kernel has
 * started and read them back. Passed by value to kernels. */
typedef struct {
    void *base[SL_CUDA_AR_MAX_RANKS]; /* every rank's buffer; SET: its slot set */
    int64_t slot_packets;
    int nranks, rank;
    int set; /* 0: the slots of the next epoch's parity; 1: one of the static
                sets of sl_cuda_ar_sets_create (sl_cuda_ar_set_push_target) */
} sl_cuda_ar_push_t;

/* *push_p for RANK's pushes of COUNT elements, and 1; 0 (nothing set) unless
 * the group uses the Lamport protocol (a pushed packet is its own flag) and
 * takes COUNT. The same answer on every rank. */
int sl_cuda_ar_push_target(const sl_cuda_ar_t *ar, int rank, size_t count,
                           sl_cuda_ar_push_t *push_p);

/* gemv.cu: sl_cuda_gemv_bf16 into out [n, out_dim] bf16 (ldo = out_dim, a
 * multiple of 8), which also stores every 8 finished elements as one Lamport
 * packet into PUSH's slot on each peer: the first half of the all-reduce of
 * out that the next sl_cuda_ar_rmsnorm_bf16 (PUSHED) completes. Same bits in
 * out as sl_cuda_gemv_bf16; the sum is the same as without the push. */
int sl_cuda_gemv_push_supported(int n, int out_dim, int in_dim, const void *x, int64_t ldx,
                                const void *w, const void *out);
sl_status_t sl_cuda_gemv_push_bf16(uint16_t *out, const uint16_t *x, int64_t ldx,
                                   const uint16_t *w, int n, int out_dim, int in_dim,
                                   const sl_cuda_ar_push_t *push, cudaStream_t stream);

/* The all-reduce fused with what follows it in a layer, one kernel, the same
 * bits as sl_cuda_ar_bf16(x -> x), sl_cuda_add_bias_bf16 (with BIAS) and
 * sl_cuda_rmsnorm_bf16(xn, x, residual, weight) in that order:
 *   x        [n, h] bf16 in: this rank's partial sums; out: their sum (+ bias)
 *   bias     [h] float32, or NULL
 *   residual [n, h] bf16 += x
 *   weight   [h] bf16
 *   xn       [n, h] bf16 out: RMSNorm(residual) * weight
 * PUSHED: the kernel that wrote x pushed it to the peers already
 * (sl_cuda_gemv_push_bf16 with sl_cuda_ar_push_target's target; every rank
 * alike). The same contract as sl_cuda_ar_bf16 (every rank the same calls, in
 * the same order as its plain all-reduces; capturable in a graph). */
sl_status_t sl_cuda_ar_rmsnorm_bf16(sl_cuda_ar_t *ar, int rank, uint16_t *x, const float *bias,
                                    uint16_t *residual, const uint16_t *weight, uint16_t *xn,
                                    int n, int h, float eps, int pushed, cudaStream_t stream);

/*
 * The all-reduce inside the next GEMV (TP > 1, batch 1). A decode step makes
 * the same sequence of all-reduces of one row every time; call i of it
 * (0 <= i < nsets) gets a static slot set of its own instead of the slots
 * of an epoch's parity: the projection before pushes its row into set i of
 * every peer (sl_cuda_gemv_push_bf16 with sl_cuda_ar_set_push_target), and
 * every block of the GEMV after waits for the peers' packets in its own set
 * i, sums them with its own part and normalises the row itself
 * (sl_cuda_gemv_norm_t with a gather): no all-reduce kernel, no epoch, no
 * counter. Many blocks read a set, so none can empty it after reading, as
 * the Lamport kernels do; call i empties set (i + 2) % nsets instead, which
 * no reader needs any more (its last call, i + 2 - nsets <= i - 1, has
 * completed: stream order) and no peer writes before its call i + 2, which
 * needs this rank's push of call i + 1, which comes after call i
 * (allreduce.cu). nsets >= 3.
 *
 * sl_cuda_ar_sets_create: the sets, NSETS of COUNT elements (bf16) a rank,
 * every lane empty; once per group (a second call fails), made from one
 * thread like the group.
 */
sl_status_t sl_cuda_ar_sets_create(sl_cuda_ar_t *ar, int nsets, size_t count);
/* The group's static sets (0: none) and the elements of each. */
int sl_cuda_ar_sets(const sl_cuda_ar_t *ar, size_t *count_p);

/* *push_p for RANK's pushes of call SET (COUNT elements, at most the sets'),
 * and 1; 0 (nothing set) without such a set. */
int sl_cuda_ar_set_push_target(const sl_cuda_ar_t *ar, int rank, int set, size_t count,
                               sl_cuda_ar_push_t *push_p);

/* *g_p for RANK's call SET of COUNT elements (a multiple of 8, at most the
 * sets'), and 1; 0 (nothing set) without such a set. */
int sl_cuda_ar_set_gather(const sl_cuda_ar_t *ar, int rank, int set, size_t count,
                          sl_cuda_ar_gather_t *g_p);

/* From any thread: every kernel of the group that waits for a peer gives up
 * (their outputs are then garbage and the group unusable). */
void sl_cuda_ar_abort(sl_cuda_ar_t *ar);

/* 1 when a kernel of the group gave up waiting: RANK waited longer than the
 * timeout for PEER; else 0. From any thread, also while kernels run. */
int sl_cuda_ar_failed(const sl_cuda_ar_t *ar, int *rank_p, int *peer_p);

#ifdef __cplusplus
}
#endif

#endif /* SL_GPU_KERNELS_H */
