#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H

// Kernels compiled once per instruction set (AVX-512, AVX2, baseline), the variant chosen by the
// caller (`variant`, one of the values below, which the CPU must run). Floating-point contraction
// is off in the pointwise kernels and the GEMM's every element is one FMA chain, so every variant
// performs the same IEEE operations in the same order and gives the same bits: the choice changes
// speed, never results.

#include <stddef.h>
#include <stdint.h>

/// The instruction-set variants of every kernel here.
enum { TESSERA_GEMM_BASELINE = 0, TESSERA_GEMM_AVX2 = 1, TESSERA_GEMM_AVX512 = 2 };

/// out[i] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  (GELU, tanh form).
void tessera_gelu_tanh(int variant, const float *x, float *out, ptrdiff_t n);

/// out[i] = g[i]·d/dx GELU_tanh(x[i]).
void tessera_gelu_tanh_backward(int variant, const float *g, const float *x, float *out, ptrdiff_t n);

/// x[i] = exp(x[i] − shift), in place (attention's probabilities from scores and a row maximum).
void tessera_exp_shifted(int variant, float *x, ptrdiff_t n, float shift);

/// Whether this CPU can run GEMM variant `variant`.
int tessera_gemm_variant_supported(int variant);

/// C[m, n] = α · op(A)[m, k] · op(B)[k, n] (+ C when `accumulate`), row-major, where the product's
/// every element is one fused multiply-add chain over k in order from zero (then one multiply by
/// α unless α is 1, then one add): the same bits from every variant, whatever the instruction set.
/// op(A)[i, p] is a[i·lda + p], or a[p·lda + i] when `trans_a` (B likewise). Returns 0, or −1 when
/// the CPU cannot run `variant`, −2 when memory ran out.
int tessera_sgemm_fma_chain(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                            ptrdiff_t ldc, int accumulate);

/// tessera_sgemm_fma_chain without accumulating, its C rows written with non-temporal stores
/// (around the caches) when C and ldc allow (64-byte aligned rows; plain stores otherwise): for an
/// output too large to stay in cache that nothing reads soon, such as the weight gradients of many
/// experts. The same bits.
int tessera_sgemm_fma_chain_streaming(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                      float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                      float *c, ptrdiff_t ldc);

/// op(B) [k, n] packed once for several products that share it (row blocks of one C, each on its
/// own thread): the count of column panels, the floats the packed form takes, the packing of
/// panels [first_panel, end_panel) (so threads can share the work), and the product from it, whose
/// bits are those of tessera_sgemm_fma_chain.
ptrdiff_t tessera_gemm_b_panel_count(int variant, ptrdiff_t n);
ptrdiff_t tessera_gemm_packed_b_count(int variant, ptrdiff_t n, ptrdiff_t k);
/// A 64-byte aligned buffer of `count` floats for a packed op(B), owned by the calling thread and
/// reused by its next call (NULL when memory ran out).
float *tessera_gemm_shared_buffer(ptrdiff_t count);
void tessera_gemm_pack_b(int variant, int trans_b, ptrdiff_t n, ptrdiff_t k, const float *b, ptrdiff_t ldb,
                         ptrdiff_t first_panel, ptrdiff_t end_panel, float *packed);
int tessera_sgemm_fma_chain_packed_b(int variant, int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                                     const float *a, ptrdiff_t lda, const float *packed_b, float *c, ptrdiff_t ldc,
                                     int accumulate);

/// A pause hint for spin-wait loops (x86 `pause`; nothing elsewhere).
void tessera_spin_pause(void);

/// Makes C's `stdout` (which `print` writes to) line-buffered.
void tessera_stdout_line_buffered(void);

/// The number of CPUs in this process's affinity mask (0 when it cannot be read).
int tessera_affinity_cpu_count(void);

/// Flushes C's `stdout`.
void tessera_stdout_flush(void);

/// Makes a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE) flush C's `stdout` before the handler
/// installed earlier (Swift's backtracer) runs, so a partial line printed just before it is kept.
void tessera_stdout_flush_on_crash(void);

/// Weight-only quantized `y = x Wᵀ (+ b)` for output blocks `first ..< last` (16 outputs each) of
/// every row of `x` `[rows, inputs]` (`y` `[rows, outputs]`). int8: codes `[blocks, inputs, 16]`,
/// a half-float scale per output (`[blocks · 16]`).
void tessera_qlinear_int8(int variant, const float *x, ptrdiff_t rows, ptrdiff_t inputs, const int8_t *q,
                          const uint16_t *scales, const float *bias, float *y, ptrdiff_t outputs, ptrdiff_t first,
                          ptrdiff_t last);

/// The same with 4-bit codes `[blocks, inputs, 8 bytes]` (lanes 2j and 2j + 1 in the low and high
/// nibble of byte j) in groups of `group` inputs, `w = minimum + scale · q` per group (half floats,
/// `[blocks, groups, 16]`); `xsums` `[rows, groups]` holds each row's sum over each group
/// (``tessera_group_sums``).
void tessera_qlinear_int4(int variant, const float *x, ptrdiff_t rows, ptrdiff_t inputs, const uint8_t *codes,
                          ptrdiff_t group, const uint16_t *scales, const uint16_t *minimums, const float *xsums,
                          const float *bias, float *y, ptrdiff_t outputs, ptrdiff_t first, ptrdiff_t last);

/// `sums[r, g]` = the sum of `x[r, i]` over group `g` of `group` inputs, in order.
void tessera_group_sums(const float *x, ptrdiff_t rows, ptrdiff_t inputs, ptrdiff_t group, float *sums);

#endif
