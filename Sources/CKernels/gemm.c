// A GEMM whose result bits do not depend on the instruction set: every output element is one
// fused multiply-add chain over k, in order from k = 0, starting at zero,
//
//     acc = 0;  for p in 0 ..< k:  acc = fma(A[i, p], B[p, j], acc);   C[i, j] = α·acc (+ C[i, j])
//
// in each variant. The AVX-512 and AVX2 variants hold a tile of accumulators in registers and run
// the whole k loop before storing (no k-blocking, so no extra rounding between blocks); the
// baseline variant is the same loop with the C library's fmaf, which rounds once as the
// instructions do. Vector lanes run along j, so a lane never mixes two elements' chains.

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"

// A[i, p] and B[p, j] of row-major operands, transposed or not.
#define A_AT(i, p) (trans_a ? a[(size_t)(p) * lda + (i)] : a[(size_t)(i) * lda + (p)])
#define B_AT(p, j) (trans_b ? b[(size_t)(j) * ldb + (p)] : b[(size_t)(p) * ldb + (j)])

/// Packs rows `i0 ..< i0 + rows` of A as [k][mr] (rows past the end are zero).
static void pack_a(const float *a, ptrdiff_t lda, int trans_a, ptrdiff_t i0, ptrdiff_t rows, ptrdiff_t k,
                   ptrdiff_t mr, float *out) {
    for (ptrdiff_t p = 0; p < k; p++) {
        for (ptrdiff_t r = 0; r < mr; r++) out[p * mr + r] = r < rows ? A_AT(i0 + r, p) : 0.0f;
    }
}

/// Packs columns `j0 ..< j0 + cols` of B as [k][nr] (columns past the end are zero).
static void pack_b(const float *b, ptrdiff_t ldb, int trans_b, ptrdiff_t j0, ptrdiff_t cols, ptrdiff_t k,
                   ptrdiff_t nr, float *out) {
    for (ptrdiff_t p = 0; p < k; p++) {
        for (ptrdiff_t c = 0; c < nr; c++) out[p * nr + c] = c < cols ? B_AT(p, j0 + c) : 0.0f;
    }
}

/// Writes an mr × nr tile of accumulators, times alpha, into C (only its first rows × cols),
/// adding when `accumulate`.
static void store_tile(const float *tile, ptrdiff_t nr, float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,
                       float alpha, int accumulate) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        for (ptrdiff_t j = 0; j < cols; j++) {
            float v = alpha == 1.0f ? tile[r * nr + j] : alpha * tile[r * nr + j];
            c[r * ldc + j] = accumulate ? c[r * ldc + j] + v : v;
        }
    }
}

// Rows per register tile: AVX-512 has 32 registers (24 accumulators), AVX2 16 (12 accumulators).
enum { MR = 6, MR512 = 12 };

__attribute__((target("avx512f"))) static void kernel_avx512(const float *ap, const float *bp, ptrdiff_t k,
                                                               float *tile) {
    __m512 c[MR512][2];
    for (int r = 0; r < MR512; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps(bp + p * 32), b1 = _mm512_loadu_ps(bp + p * 32 + 16);
        for (int r = 0; r < MR512; r++) {
            __m512 av = _mm512_set1_ps(ap[p * MR512 + r]);
            c[r][0] = _mm512_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(av, b1, c[r][1]);
        }
    }
    for (int r = 0; r < MR512; r++) {
        _mm512_storeu_ps(tile + r * 32, c[r][0]);
        _mm512_storeu_ps(tile + r * 32 + 16, c[r][1]);
    }
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(const float *ap, const float *bp, ptrdiff_t k,
                                                             float *tile) {
    __m256 c[MR][2];
    for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    for (ptrdiff_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(bp + p * 16), b1 = _mm256_loadu_ps(bp + p * 16 + 8);
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(ap + p * MR + r);
            c[r][0] = _mm256_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(av, b1, c[r][1]);
        }
    }
    for (int r = 0; r < MR; r++) {
        _mm256_storeu_ps(tile + r * 16, c[r][0]);
        _mm256_storeu_ps(tile + r * 16 + 8, c[r][1]);
    }
}

static void kernel_baseline(const float *ap, const float *bp, ptrdiff_t k, float *tile) {
    enum { NR = 8 };
    float c[MR][NR];
    memset(c, 0, sizeof c);
    for (ptrdiff_t p = 0; p < k; p++) {
        for (int r = 0; r < MR; r++) {
            float av = ap[p * MR + r];
            for (int j = 0; j < NR; j++) c[r][j] = fmaf(av, bp[p * NR + j], c[r][j]);
        }
    }
    memcpy(tile, c, sizeof c);
}

int tessera_gemm_variant_supported(int variant) {
    switch (variant) {
    case TESSERA_GEMM_BASELINE: return 1;
#if defined(__x86_64__)
    case TESSERA_GEMM_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TESSERA_GEMM_AVX512: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

int tessera_sgemm_fma_chain(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                            ptrdiff_t ldc, int accumulate) {
    if (!tessera_gemm_variant_supported(variant)) return -1;
    if (m <= 0 || n <= 0) return 0;
    ptrdiff_t nr = variant == TESSERA_GEMM_AVX512 ? 32 : variant == TESSERA_GEMM_AVX2 ? 16 : 8;
    ptrdiff_t mr = variant == TESSERA_GEMM_AVX512 ? MR512 : MR;
    void (*kernel)(const float *, const float *, ptrdiff_t, float *) =
        variant == TESSERA_GEMM_AVX512 ? kernel_avx512 : variant == TESSERA_GEMM_AVX2 ? kernel_avx2 : kernel_baseline;
    ptrdiff_t row_panels = (m + mr - 1) / mr;
    ptrdiff_t kk = k > 0 ? k : 1;
    float *packed_a = malloc(sizeof(float) * (size_t)(row_panels * mr * kk));
    float *packed_b = malloc(sizeof(float) * (size_t)(nr * kk));
    float tile[MR512 * 32];
    if (!packed_a || !packed_b) {
        free(packed_a);
        free(packed_b);
        return -2;
    }
    for (ptrdiff_t q = 0; q < row_panels; q++) {
        ptrdiff_t rows = m - q * mr < mr ? m - q * mr : mr;
        pack_a(a, lda, trans_a, q * mr, rows, k, mr, packed_a + q * mr * kk);
    }
    for (ptrdiff_t j0 = 0; j0 < n; j0 += nr) {
        ptrdiff_t cols = n - j0 < nr ? n - j0 : nr;
        pack_b(b, ldb, trans_b, j0, cols, k, nr, packed_b);
        for (ptrdiff_t q = 0; q < row_panels; q++) {
            ptrdiff_t rows = m - q * mr < mr ? m - q * mr : mr;
            kernel(packed_a + q * mr * kk, packed_b, k, tile);
            store_tile(tile, nr, c + q * mr * ldc + j0, ldc, rows, cols, alpha, accumulate);
        }
    }
    free(packed_a);
    free(packed_b);
    return 0;
}
