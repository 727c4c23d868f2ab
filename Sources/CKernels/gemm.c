// A GEMM whose result bits do not depend on the instruction set: every output element is one
// fused multiply-add chain over k, in order from k = 0, starting at zero,
//
//     acc = 0;  for p in 0 ..< k:  acc = fma(A[i, p], B[p, j], acc);   C[i, j] = α·acc (+ C[i, j])
//
// in each variant. Vector lanes run along j, so a lane never mixes two elements' chains.
//
// The loops are blocked as in GotoBLAS / BLIS (a block of B packed into micro-panels of NR columns,
// a block of A into micro-panels of MR rows, a register tile of MR × NR accumulators). Blocking k
// does not change a bit: between two k blocks a chain's float is parked in C (or, when C must be
// added to at the end, in a scratch block) and loaded back, so the chain goes on exactly where it
// stopped. The epilogue (α, then + C) runs once, after the last block. The AVX-512 and AVX2
// variants and the baseline one (the C library's fmaf, which rounds once as the instructions do)
// therefore give the same bits, for any blocking, any partition of C and any thread count.

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"

#pragma clang fp contract(off)

// Packing copies short rows (6 to 32 floats) millions of times: left alone, the compiler turns those
// copy loops into calls to memcpy, whose per-call cost dominated (8% of a training step).
#define NO_MEMCPY __attribute__((no_builtin("memcpy"), no_builtin("memset"), no_builtin("memmove")))

// MARK: - Packing

#if defined(__x86_64__)
/// Eight rows of a strided block transposed into panel order, eight columns at a time (AVX):
/// `out[p·width + q] = src[q·ld + p]` for `q < 8`, `p < kc`; `next`, when not NULL, is the next
/// eight rows' start, fetched while these are copied (rows of a few hundred floats are too short
/// for the hardware prefetcher to ramp up). Returns the columns done (a multiple of 8).
__attribute__((target("avx"))) NO_MEMCPY static ptrdiff_t pack_transposing_8(const float *src, ptrdiff_t ld,
                                                                              ptrdiff_t kc, ptrdiff_t width,
                                                                              const float *next, float *restrict out) {
    ptrdiff_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        if (next && (p & 15) == 0) {
            for (int q = 0; q < 8; q++) __builtin_prefetch(next + q * ld + p, 0, 3);
        }
        __m256 r0 = _mm256_loadu_ps(src + p), r1 = _mm256_loadu_ps(src + ld + p),
               r2 = _mm256_loadu_ps(src + 2 * ld + p), r3 = _mm256_loadu_ps(src + 3 * ld + p),
               r4 = _mm256_loadu_ps(src + 4 * ld + p), r5 = _mm256_loadu_ps(src + 5 * ld + p),
               r6 = _mm256_loadu_ps(src + 6 * ld + p), r7 = _mm256_loadu_ps(src + 7 * ld + p);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        float *d = out + p * width;
        _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(d + width, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(d + 2 * width, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(d + 3 * width, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(d + 4 * width, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(d + 5 * width, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(d + 6 * width, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(d + 7 * width, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    return p;
}
#endif

/// `out[p·width + r] = src[r·ld + p]` for `r < rows`, `p < kc`, and zero for `rows ≤ r < width`: a
/// strided block transposed into panel order, eight rows by eight columns at a time where the CPU
/// has AVX, the rest four by four (SSE, which every x86-64 has). Data movement only: the bits do
/// not depend on how it is done.
NO_MEMCPY static void pack_transposing(const float *src, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t kc, ptrdiff_t width,
                             float *restrict out) {
    ptrdiff_t r0 = 0;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx")) {
        for (; r0 + 8 <= rows; r0 += 8) {
            const float *s0 = src + r0 * ld;
            ptrdiff_t p = pack_transposing_8(s0, ld, kc, width, r0 + 16 <= rows ? s0 + 8 * ld : NULL, out + r0);
            for (; p < kc; p++) {
                for (int q = 0; q < 8; q++) out[p * width + r0 + q] = s0[q * ld + p];
            }
        }
    }
    for (; r0 + 4 <= rows; r0 += 4) {
        const float *s0 = src + r0 * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
        ptrdiff_t p = 0;
        for (; p + 4 <= kc; p += 4) {
            __m128 x0 = _mm_loadu_ps(s0 + p), x1 = _mm_loadu_ps(s1 + p), x2 = _mm_loadu_ps(s2 + p),
                   x3 = _mm_loadu_ps(s3 + p);
            _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
            _mm_storeu_ps(out + p * width + r0, x0);
            _mm_storeu_ps(out + (p + 1) * width + r0, x1);
            _mm_storeu_ps(out + (p + 2) * width + r0, x2);
            _mm_storeu_ps(out + (p + 3) * width + r0, x3);
        }
        for (; p < kc; p++) {
            float *dst = out + p * width + r0;
            dst[0] = s0[p];
            dst[1] = s1[p];
            dst[2] = s2[p];
            dst[3] = s3[p];
        }
    }
#endif
    for (ptrdiff_t r = r0; r < width; r++) {
        if (r < rows) {
            const float *s = src + r * ld;
            for (ptrdiff_t p = 0; p < kc; p++) out[p * width + r] = s[p];
        } else {
            for (ptrdiff_t p = 0; p < kc; p++) out[p * width + r] = 0.0f;
        }
    }
}

/// Copies `kc` rows of `count` contiguous floats (`src[p·ld + x]`) into the panels of a block:
/// element x of row p goes to panel x / width, at `p·width + x % width`; each panel's columns past
/// `count` are zero. One pass along each source row, so the reads stream.
NO_MEMCPY static void pack_rows_into_panels(const float *src, ptrdiff_t ld, ptrdiff_t count, ptrdiff_t kc,
                                  ptrdiff_t width, float *restrict out) {
    const ptrdiff_t panel_size = kc * width;
    for (ptrdiff_t p = 0; p < kc; p++) {
        const float *s = src + p * ld;
        // Rows a few ahead on their way: short strided rows defeat the hardware prefetcher.
        if (p + 8 < kc) {
            for (ptrdiff_t x = 0; x < count; x += 16) __builtin_prefetch(s + 8 * ld + x, 0, 3);
        }
        float *dst = out + p * width;
        for (ptrdiff_t x0 = 0; x0 < count; x0 += width, dst += panel_size) {
            const ptrdiff_t n = count - x0 < width ? count - x0 : width;
            ptrdiff_t x = 0;
#if defined(__x86_64__)
            for (; x + 4 <= n; x += 4) _mm_storeu_ps(dst + x, _mm_loadu_ps(s + x0 + x));
#endif
            for (; x < n; x++) dst[x] = s[x0 + x];
            for (; x < width; x++) dst[x] = 0.0f;
        }
    }
}

/// Packs rows `i0 ..< i0 + rows` and columns `p0 ..< p0 + kc` of op(A) into panels of MR rows, each
/// [kc][MR] (rows past the end are zero). `trans_a`: A is stored [k, m] (A[i, p] at p·lda + i).
NO_MEMCPY static void pack_a(const float *a, ptrdiff_t lda, int trans_a, ptrdiff_t i0, ptrdiff_t rows, ptrdiff_t p0,
                   ptrdiff_t kc, ptrdiff_t mr, float *restrict out) {
    if (trans_a) {
        pack_rows_into_panels(a + p0 * lda + i0, lda, rows, kc, mr, out);
        return;
    }
    for (ptrdiff_t r = 0; r < rows; r += mr) {
        const ptrdiff_t n = rows - r < mr ? rows - r : mr;
        pack_transposing(a + (i0 + r) * lda + p0, lda, n, kc, mr, out + (r / mr) * kc * mr);
    }
}

/// Packs columns `j0 ..< j0 + cols` and rows `p0 ..< p0 + kc` of op(B) into panels of NR columns,
/// each [kc][NR] (columns past the end are zero). `trans_b`: B is stored [n, k] (B[p, j] at j·ldb + p).
NO_MEMCPY static void pack_b(const float *b, ptrdiff_t ldb, int trans_b, ptrdiff_t j0, ptrdiff_t cols, ptrdiff_t p0,
                   ptrdiff_t kc, ptrdiff_t nr, float *restrict out) {
    if (!trans_b) {
        pack_rows_into_panels(b + p0 * ldb + j0, ldb, cols, kc, nr, out);
        return;
    }
    for (ptrdiff_t c = 0; c < cols; c += nr) {
        const ptrdiff_t n = cols - c < nr ? cols - c : nr;
        pack_transposing(b + (j0 + c) * ldb + p0, ldb, n, kc, nr, out + (c / nr) * kc * nr);
    }
}

// MARK: - Register tiles

/// What a micro-kernel does with its MR × NR tile of chains after `kc` more steps:
///   start:  the chains begin at zero (else they are loaded from `w`);
///   finish: the chains are complete: C = α·acc, plus C's old value when `accumulate`
///           (else the chains are parked in `w` for the next k block).
/// `w` and `c` may be the same memory (when nothing is accumulated into C).
typedef struct {
    float *w;
    ptrdiff_t ldw;
    float *c;
    ptrdiff_t ldc;
    int start, finish, accumulate;
    /// The finished C rows go out with non-temporal stores (set only when C is 64-byte aligned
    /// row by row and not added to).
    int stream;
    float alpha;
} TileTask;

typedef void (*MicroKernel)(const float *ap, const float *bp, ptrdiff_t kc, const TileTask *t);

enum { MR512 = 12, NR512 = 32, MR256 = 6, NR256 = 16, MRBASE = 6, NRBASE = 8 };

// The register tiles name each accumulator (a macro per row) rather than index an array: an array of
// vectors walked by loops in the prologue and epilogue was kept on the stack, zeroed by a call to
// memset and copied in and out of registers around the k loop; and the tile's fields are read once
// into locals (a store through `c` may alias them, so they were read again for every row). Both
// cost most on short k (a mixture's experts, k of ~128). A tile of fewer rows than MR (the last of
// a short product) runs only its rows' chains instead of a whole tile through a copy. The
// arithmetic of every chain, and so its bits, is the same in all of them.
#define TILE_ALL_12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define TILE_ALL_6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define TILE_ROWS_12(X)                                                                                                \
    if (0 < rows) X(0) if (1 < rows) X(1) if (2 < rows) X(2) if (3 < rows) X(3) if (4 < rows) X(4)                     \
    if (5 < rows) X(5) if (6 < rows) X(6) if (7 < rows) X(7) if (8 < rows) X(8) if (9 < rows) X(9)                     \
    if (10 < rows) X(10) if (11 < rows) X(11)
#define TILE_ROWS_6(X)                                                                                                 \
    if (0 < rows) X(0) if (1 < rows) X(1) if (2 < rows) X(2) if (3 < rows) X(3) if (4 < rows) X(4)                     \
    if (5 < rows) X(5)

/// The first `rows` rows of a register tile (a constant wherever it is inlined, so the other rows
/// vanish): the whole tile in `kernel_avx512`, a short last tile in `rows_avx512`.
__attribute__((target("avx512f"), always_inline)) static inline void tile_avx512(const float *ap, const float *bp,
                                                                ptrdiff_t kc, const TileTask *t, const int rows) {
    float *const w = t->w, *const c = t->c;
    const ptrdiff_t ldw = t->ldw, ldc = t->ldc;
    const int finish = t->finish, accumulate = t->accumulate, stream = t->stream;
    const float alpha = t->alpha;
#define DECLARE(r) __m512 c##r##_0, c##r##_1;
    TILE_ALL_12(DECLARE)
#undef DECLARE
    if (t->start) {
#define ZERO(r) { c##r##_0 = c##r##_1 = _mm512_setzero_ps(); }
        TILE_ROWS_12(ZERO)
#undef ZERO
    } else {
#define RESUME(r) { c##r##_0 = _mm512_loadu_ps(w + r * ldw); c##r##_1 = _mm512_loadu_ps(w + r * ldw + 16); }
        TILE_ROWS_12(RESUME)
#undef RESUME
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(bp + p * NR512), b1 = _mm512_loadu_ps(bp + p * NR512 + 16);
        const float *a = ap + p * MR512;
#define STEP(r)                                                                                                        \
    {                                                                                                                  \
        const __m512 av = _mm512_set1_ps(a[r]);                                                                        \
        c##r##_0 = _mm512_fmadd_ps(av, b0, c##r##_0);                                                                  \
        c##r##_1 = _mm512_fmadd_ps(av, b1, c##r##_1);                                                                  \
    }
        TILE_ROWS_12(STEP)
#undef STEP
    }
    if (!finish) {
#define PARK(r) { _mm512_storeu_ps(w + r * ldw, c##r##_0); _mm512_storeu_ps(w + r * ldw + 16, c##r##_1); }
        TILE_ROWS_12(PARK)
#undef PARK
        return;
    }
    const __m512 scale = _mm512_set1_ps(alpha);
    const int scaled = alpha != 1.0f;
#define FINISH(r)                                                                                                      \
    {                                                                                                                  \
        __m512 v0 = scaled ? _mm512_mul_ps(scale, c##r##_0) : c##r##_0;                                                \
        __m512 v1 = scaled ? _mm512_mul_ps(scale, c##r##_1) : c##r##_1;                                                \
        float *dst = c + r * ldc;                                                                                      \
        if (accumulate) {                                                                                              \
            v0 = _mm512_add_ps(_mm512_loadu_ps(dst), v0);                                                              \
            v1 = _mm512_add_ps(_mm512_loadu_ps(dst + 16), v1);                                                         \
        }                                                                                                              \
        if (stream) {                                                                                                  \
            _mm512_stream_ps(dst, v0);                                                                                 \
            _mm512_stream_ps(dst + 16, v1);                                                                            \
        } else {                                                                                                       \
            _mm512_storeu_ps(dst, v0);                                                                                 \
            _mm512_storeu_ps(dst + 16, v1);                                                                            \
        }                                                                                                              \
    }
    TILE_ROWS_12(FINISH)
#undef FINISH
}

__attribute__((target("avx512f"))) static void kernel_avx512(const float *ap, const float *bp, ptrdiff_t kc,
                                                               const TileTask *t) {
    tile_avx512(ap, bp, kc, t, MR512);
}

/// A last tile of `rows` < MR rows (its packed panel is still MR rows wide): only those rows' chains.
__attribute__((target("avx512f"))) static void rows_avx512(const float *ap, const float *bp, ptrdiff_t kc,
                                                             const TileTask *t, ptrdiff_t rows) {
    switch (rows) {
    case 1: tile_avx512(ap, bp, kc, t, 1); break;
    case 2: tile_avx512(ap, bp, kc, t, 2); break;
    case 3: tile_avx512(ap, bp, kc, t, 3); break;
    case 4: tile_avx512(ap, bp, kc, t, 4); break;
    case 5: tile_avx512(ap, bp, kc, t, 5); break;
    case 6: tile_avx512(ap, bp, kc, t, 6); break;
    case 7: tile_avx512(ap, bp, kc, t, 7); break;
    case 8: tile_avx512(ap, bp, kc, t, 8); break;
    case 9: tile_avx512(ap, bp, kc, t, 9); break;
    case 10: tile_avx512(ap, bp, kc, t, 10); break;
    default: tile_avx512(ap, bp, kc, t, 11); break;
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void tile_avx2(const float *ap, const float *bp,
                                                                ptrdiff_t kc, const TileTask *t, const int rows) {
    float *const w = t->w, *const c = t->c;
    const ptrdiff_t ldw = t->ldw, ldc = t->ldc;
    const int finish = t->finish, accumulate = t->accumulate, stream = t->stream;
    const float alpha = t->alpha;
#define DECLARE(r) __m256 c##r##_0, c##r##_1;
    TILE_ALL_6(DECLARE)
#undef DECLARE
    if (t->start) {
#define ZERO(r) { c##r##_0 = c##r##_1 = _mm256_setzero_ps(); }
        TILE_ROWS_6(ZERO)
#undef ZERO
    } else {
#define RESUME(r) { c##r##_0 = _mm256_loadu_ps(w + r * ldw); c##r##_1 = _mm256_loadu_ps(w + r * ldw + 8); }
        TILE_ROWS_6(RESUME)
#undef RESUME
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(bp + p * NR256), b1 = _mm256_loadu_ps(bp + p * NR256 + 8);
        const float *a = ap + p * MR256;
#define STEP(r)                                                                                                        \
    {                                                                                                                  \
        const __m256 av = _mm256_broadcast_ss(a + r);                                                                  \
        c##r##_0 = _mm256_fmadd_ps(av, b0, c##r##_0);                                                                  \
        c##r##_1 = _mm256_fmadd_ps(av, b1, c##r##_1);                                                                  \
    }
        TILE_ROWS_6(STEP)
#undef STEP
    }
    if (!finish) {
#define PARK(r) { _mm256_storeu_ps(w + r * ldw, c##r##_0); _mm256_storeu_ps(w + r * ldw + 8, c##r##_1); }
        TILE_ROWS_6(PARK)
#undef PARK
        return;
    }
    const __m256 scale = _mm256_set1_ps(alpha);
    const int scaled = alpha != 1.0f;
#define FINISH(r)                                                                                                      \
    {                                                                                                                  \
        __m256 v0 = scaled ? _mm256_mul_ps(scale, c##r##_0) : c##r##_0;                                                \
        __m256 v1 = scaled ? _mm256_mul_ps(scale, c##r##_1) : c##r##_1;                                                \
        float *dst = c + r * ldc;                                                                                      \
        if (accumulate) {                                                                                              \
            v0 = _mm256_add_ps(_mm256_loadu_ps(dst), v0);                                                              \
            v1 = _mm256_add_ps(_mm256_loadu_ps(dst + 8), v1);                                                          \
        }                                                                                                              \
        if (stream) {                                                                                                  \
            _mm256_stream_ps(dst, v0);                                                                                 \
            _mm256_stream_ps(dst + 8, v1);                                                                             \
        } else {                                                                                                       \
            _mm256_storeu_ps(dst, v0);                                                                                 \
            _mm256_storeu_ps(dst + 8, v1);                                                                             \
        }                                                                                                              \
    }
    TILE_ROWS_6(FINISH)
#undef FINISH
}

__attribute__((target("avx2,fma"))) static void kernel_avx2(const float *ap, const float *bp, ptrdiff_t kc,
                                                             const TileTask *t) {
    tile_avx2(ap, bp, kc, t, MR256);
}

__attribute__((target("avx2,fma"))) static void rows_avx2(const float *ap, const float *bp, ptrdiff_t kc,
                                                           const TileTask *t, ptrdiff_t rows) {
    switch (rows) {
    case 1: tile_avx2(ap, bp, kc, t, 1); break;
    case 2: tile_avx2(ap, bp, kc, t, 2); break;
    case 3: tile_avx2(ap, bp, kc, t, 3); break;
    case 4: tile_avx2(ap, bp, kc, t, 4); break;
    default: tile_avx2(ap, bp, kc, t, 5); break;
    }
}

static void kernel_baseline(const float *ap, const float *bp, ptrdiff_t kc, const TileTask *t) {
    float c[MRBASE][NRBASE];
    for (int r = 0; r < MRBASE; r++) {
        for (int j = 0; j < NRBASE; j++) c[r][j] = t->start ? 0.0f : t->w[r * t->ldw + j];
    }
    for (ptrdiff_t p = 0; p < kc; p++) {
        for (int r = 0; r < MRBASE; r++) {
            float av = ap[p * MRBASE + r];
            for (int j = 0; j < NRBASE; j++) c[r][j] = fmaf(av, bp[p * NRBASE + j], c[r][j]);
        }
    }
    for (int r = 0; r < MRBASE; r++) {
        for (int j = 0; j < NRBASE; j++) {
            if (!t->finish) {
                t->w[r * t->ldw + j] = c[r][j];
                continue;
            }
            float v = t->alpha == 1.0f ? c[r][j] : t->alpha * c[r][j];
            float *dst = t->c + r * t->ldc + j;
            *dst = t->accumulate ? *dst + v : v;
        }
    }
}

// MARK: - Driver

typedef void (*RowsKernel)(const float *ap, const float *bp, ptrdiff_t kc, const TileTask *t, ptrdiff_t rows);

typedef struct {
    MicroKernel kernel;
    /// A tile of fewer than mr rows and all nr columns (NULL: through edge_tile's copy).
    RowsKernel rows_kernel;
    ptrdiff_t mr, nr;
    // Cache blocks: mc × kc of A stays in L2 while kc × nc of B streams past it. kc is long: a
    // register tile's C rows cost a few hundred cycles at each k block (measured on AVX-512: kc 256
    // runs at 0.83 of OpenBLAS on 2048³, kc 1024 at 0.92).
    ptrdiff_t kc, mc, nc;
} VariantShape;

static VariantShape variant_shape(int variant) {
    switch (variant) {
    case TESSERA_GEMM_AVX512: return (VariantShape){kernel_avx512, rows_avx512, MR512, NR512, 1024, 144, 4096};
    case TESSERA_GEMM_AVX2: return (VariantShape){kernel_avx2, rows_avx2, MR256, NR256, 512, 96, 4096};
    default: return (VariantShape){kernel_baseline, NULL, MRBASE, NRBASE, 256, 96, 4096};
    }
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

/// A buffer of at least `count` floats owned by this thread, kept between calls (each use has its
/// own slot: packed B, packed A, parked chains, shared packed B).
static float *thread_buffer(int slot, size_t count) {
    static _Thread_local float *buffers[4];
    static _Thread_local size_t capacities[4];
    if (capacities[slot] >= count) return buffers[slot];
    free(buffers[slot]);
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    buffers[slot] = aligned_alloc(64, bytes);
    capacities[slot] = buffers[slot] ? bytes / sizeof(float) : 0;
    return buffers[slot];
}

/// One register tile at the edge of C (`rows` < MR or `cols` < NR): through a full-size copy.
static void edge_tile(const VariantShape *v, const float *ap, const float *bp, ptrdiff_t kc, const TileTask *t,
                      ptrdiff_t rows, ptrdiff_t cols) {
    // The kernel reads `w` only when the chains continue and `c` only when it adds to it; the rows
    // and columns past the edge are zeroed then (their lanes are discarded, but stay finite).
    float w[MR512 * NR512], c[MR512 * NR512];
    if (!t->start) memset(w, 0, sizeof(float) * (size_t)(v->mr * v->nr));
    if (t->finish && t->accumulate) memset(c, 0, sizeof(float) * (size_t)(v->mr * v->nr));
    for (ptrdiff_t r = 0; r < rows; r++) {
        if (!t->start) memcpy(w + r * v->nr, t->w + r * t->ldw, sizeof(float) * (size_t)cols);
        if (t->finish && t->accumulate) memcpy(c + r * v->nr, t->c + r * t->ldc, sizeof(float) * (size_t)cols);
    }
    TileTask local = *t;
    local.stream = 0;  // the copy is not aligned for non-temporal stores
    local.w = w;
    local.ldw = v->nr;
    local.c = c;
    local.ldc = v->nr;
    v->kernel(ap, bp, kc, &local);
    for (ptrdiff_t r = 0; r < rows; r++) {
        if (t->finish) memcpy(t->c + r * t->ldc, c + r * v->nr, sizeof(float) * (size_t)cols);
        else memcpy(t->w + r * t->ldw, w + r * v->nr, sizeof(float) * (size_t)cols);
    }
}

/// The blocked product. op(B) comes either from `b` (packed here, block by block) or, when
/// `prepacked` is not NULL, already packed by tessera_gemm_pack_b.
NO_MEMCPY static int gemm_blocked(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                  const float *prepacked, float *c, ptrdiff_t ldc, int accumulate, int stream_c) {
    if (!tessera_gemm_variant_supported(variant)) return -1;
    if (m <= 0 || n <= 0) return 0;
    if (k < 0) k = 0;
    const VariantShape v = variant_shape(variant);
    const ptrdiff_t n_padded = (n + v.nr - 1) / v.nr * v.nr;
    const ptrdiff_t k_blocks = k > 0 ? (k + v.kc - 1) / v.kc : 1;
    const ptrdiff_t kc_max = k < v.kc ? (k > 0 ? k : 1) : v.kc;
    const ptrdiff_t nc_max = n < v.nc ? (n + v.nr - 1) / v.nr * v.nr : v.nc;
    const ptrdiff_t mc_max = m < v.mc ? (m + v.mr - 1) / v.mr * v.mr : v.mc;
    float *packed_b = prepacked ? NULL : thread_buffer(0, (size_t)(kc_max * nc_max));
    float *packed_a = thread_buffer(1, (size_t)(kc_max * mc_max));
    // Chains parked between k blocks go to C itself, unless C's old value is still needed; then they
    // go to a scratch block of the rows × columns in flight, so tall products run in row chunks (the
    // scratch of a [65536, 4096] accumulate would otherwise be a gigabyte).
    const int parked_apart = accumulate && k_blocks > 1;
    enum { PARKED_ROWS = 256 };
    if (parked_apart && m > PARKED_ROWS) {
        for (ptrdiff_t i0 = 0; i0 < m; i0 += PARKED_ROWS) {
            const ptrdiff_t rows = m - i0 < PARKED_ROWS ? m - i0 : PARKED_ROWS;
            const float *a_rows = trans_a ? a + i0 : a + i0 * lda;
            int status = gemm_blocked(variant, trans_a, trans_b, rows, n, k, alpha, a_rows, lda, b, ldb, prepacked,
                                      c + i0 * ldc, ldc, accumulate, stream_c);
            if (status != 0) return status;
        }
        return 0;
    }
    float *scratch = parked_apart ? thread_buffer(2, (size_t)(m * nc_max)) : NULL;
    if (!packed_a || (!prepacked && !packed_b) || (parked_apart && !scratch)) return -2;
    // Non-temporal stores need every full tile's C rows 64-byte aligned (NR is 32 or 16 floats).
    const int stream = stream_c && !accumulate && variant != TESSERA_GEMM_BASELINE && ((uintptr_t)c & 63) == 0 &&
                       (ldc & 15) == 0;

    for (ptrdiff_t jc = 0; jc < n; jc += v.nc) {
        const ptrdiff_t nc = n - jc < v.nc ? n - jc : v.nc;
        for (ptrdiff_t kb = 0; kb < k_blocks; kb++) {
            const ptrdiff_t pc = kb * v.kc;
            const ptrdiff_t kc = k - pc < v.kc ? k - pc : v.kc;
            // This k block's panels: packed now, or where tessera_gemm_pack_b put them.
            const float *block_b = prepacked ? prepacked + kb * v.kc * n_padded + (jc / v.nr) * kc * v.nr : packed_b;
            if (!prepacked) pack_b(b, ldb, trans_b, jc, nc, pc, kc, v.nr, packed_b);
            for (ptrdiff_t ic = 0; ic < m; ic += v.mc) {
                const ptrdiff_t mc = m - ic < v.mc ? m - ic : v.mc;
                pack_a(a, lda, trans_a, ic, mc, pc, kc, v.mr, packed_a);
                for (ptrdiff_t jr = 0; jr < nc; jr += v.nr) {
                    const ptrdiff_t cols = nc - jr < v.nr ? nc - jr : v.nr;
                    const float *bp = block_b + (jr / v.nr) * kc * v.nr;
                    for (ptrdiff_t ir = 0; ir < mc; ir += v.mr) {
                        const ptrdiff_t rows = mc - ir < v.mr ? mc - ir : v.mr;
                        const ptrdiff_t i = ic + ir, j = jc + jr;
                        TileTask t = {
                            .w = parked_apart ? scratch + i * nc_max + jr : c + i * ldc + j,
                            .ldw = parked_apart ? nc_max : ldc,
                            .c = c + i * ldc + j,
                            .ldc = ldc,
                            .start = kb == 0,
                            .finish = kb == k_blocks - 1,
                            .accumulate = accumulate,
                            .stream = stream,
                            .alpha = alpha,
                        };
                        const float *ap = packed_a + (ir / v.mr) * kc * v.mr;
                        // The next tile's rows of C (or of parked chains), on their way while this
                        // tile computes: a tile's first touch of C otherwise stalls it.
                        if (ir + v.mr < mc && !(t.finish && stream)) {
                            const float *next = t.finish ? t.c + v.mr * t.ldc : t.w + v.mr * t.ldw;
                            const ptrdiff_t ld = t.finish ? t.ldc : t.ldw;
                            for (ptrdiff_t r = 0; r < v.mr; r++) {
                                for (ptrdiff_t q = 0; q < v.nr; q += 16) __builtin_prefetch(next + r * ld + q, 1, 3);
                            }
                        }
                        if (rows == v.mr && cols == v.nr) v.kernel(ap, bp, kc, &t);
                        else if (cols == v.nr && v.rows_kernel) v.rows_kernel(ap, bp, kc, &t, rows);
                        else edge_tile(&v, ap, bp, kc, &t, rows, cols);
                    }
                }
            }
        }
    }
#if defined(__x86_64__)
    if (stream) _mm_sfence();  // the streamed rows reach memory before the caller hands C on
#endif
    return 0;
}

int tessera_sgemm_fma_chain(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float *c,
                            ptrdiff_t ldc, int accumulate) {
    return gemm_blocked(variant, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, NULL, c, ldc, accumulate, 0);
}

int tessera_sgemm_fma_chain_streaming(int variant, int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                      float alpha, const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb,
                                      float *c, ptrdiff_t ldc) {
    return gemm_blocked(variant, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, NULL, c, ldc, 0, 1);
}

// MARK: - op(B) packed once, shared

ptrdiff_t tessera_gemm_b_panel_count(int variant, ptrdiff_t n) {
    const VariantShape v = variant_shape(variant);
    return n > 0 ? (n + v.nr - 1) / v.nr : 0;
}

ptrdiff_t tessera_gemm_packed_b_count(int variant, ptrdiff_t n, ptrdiff_t k) {
    const VariantShape v = variant_shape(variant);
    return tessera_gemm_b_panel_count(variant, n) * v.nr * (k > 0 ? k : 1);
}

// Layout: k block kb (kc = min(KC, k − kb·KC) rows) starts at kb·KC·n_padded; within it, column
// panel q ([kc][NR]) starts at q·kc·NR, exactly where gemm_blocked looks for it.
NO_MEMCPY void tessera_gemm_pack_b(int variant, int trans_b, ptrdiff_t n, ptrdiff_t k, const float *b,
                                   ptrdiff_t ldb, ptrdiff_t first_panel, ptrdiff_t end_panel, float *packed) {
    const VariantShape v = variant_shape(variant);
    const ptrdiff_t n_padded = (n + v.nr - 1) / v.nr * v.nr;
    const ptrdiff_t j0 = first_panel * v.nr;
    const ptrdiff_t j1 = end_panel * v.nr < n ? end_panel * v.nr : n;
    if (j1 <= j0) return;
    for (ptrdiff_t pc = 0; pc < k; pc += v.kc) {
        const ptrdiff_t kc = k - pc < v.kc ? k - pc : v.kc;
        pack_b(b, ldb, trans_b, j0, j1 - j0, pc, kc, v.nr, packed + pc * n_padded + first_panel * kc * v.nr);
    }
}

float *tessera_gemm_shared_buffer(ptrdiff_t count) { return thread_buffer(3, (size_t)(count > 0 ? count : 1)); }

int tessera_sgemm_fma_chain_packed_b(int variant, int trans_a, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                                     const float *a, ptrdiff_t lda, const float *packed_b, float *c, ptrdiff_t ldc,
                                     int accumulate) {
    return gemm_blocked(variant, trans_a, 0, m, n, k, alpha, a, lda, NULL, 0, packed_b, c, ldc, accumulate, 0);
}
