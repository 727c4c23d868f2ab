// Weight-only quantized linear maps for inference: y[r, o] = Σ_i x[r, i] · w[o, i] (+ b[o]) with W
// stored as int8 per output channel (w = scale_o · q) or as 4-bit codes in groups along the input
// (w = min_g + scale_g · q, q in 0…15, two codes a byte, low nibble first). Each weight row is
// decoded as it is read; the whole matrix is never expanded.
//
// The codes are laid out by blocks of 16 outputs: for each input i, the 16 outputs' codes side by
// side, so one vector of codes meets one input broadcast and each lane is one output. Every output
// is one fixed computation — an fma chain over the inputs in order (for 4 bits, one chain per group,
// then scale · chain + minimum · Σx added in group order) — whatever the instruction set, the rows
// taken together or the thread: the AVX-512, AVX2 + FMA and baseline builds give the same bits.

#include "CKernels.h"
#include "ScalarMath.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16f __attribute__((ext_vector_type(16)));
typedef int8_t v16b __attribute__((ext_vector_type(16)));
typedef uint8_t v8u __attribute__((ext_vector_type(8)));
typedef _Float16 v16hf __attribute__((ext_vector_type(16)));

// 16 half floats (their bits) as floats, exactly (F16C where the build has it).
__attribute__((always_inline)) static inline v16f halves(const uint16_t *p) {
    v16hf h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v16f);
}

__attribute__((always_inline)) static inline v16f int8_codes(const int8_t *p) {
    v16b c;
    memcpy(&c, p, sizeof c);
    return __builtin_convertvector(c, v16f);
}

__attribute__((always_inline)) static inline v16f int4_codes(const uint8_t *p) {
    v8u packed;
    memcpy(&packed, p, sizeof packed);
    v8u low = packed & (uint8_t)15, high = packed >> (uint8_t)4;
    return __builtin_convertvector(
        __builtin_shufflevector(low, high, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15), v16f);
}

__attribute__((always_inline)) static inline void store_lanes(float *y, v16f v, const float *bias, ptrdiff_t n) {
    for (ptrdiff_t l = 0; l < n; l++) y[l] = bias ? v[l] + bias[l] : v[l];
}

// Rows are taken ROWS at a time, each block's codes decoded once per ROWS rows.
#define ROWS 8

__attribute__((always_inline)) static inline void qlinear_int8_body(const float *restrict x, ptrdiff_t rows,
                                                                      ptrdiff_t inputs, const int8_t *restrict q,
                                                                      const uint16_t *restrict scales,
                                                                      const float *restrict bias, float *restrict y,
                                                                      ptrdiff_t outputs, ptrdiff_t first,
                                                                      ptrdiff_t last) {
    for (ptrdiff_t b = first; b < last; b++) {
        const int8_t *qb = q + b * inputs * 16;
        const v16f scale = halves(scales + b * 16);
        const ptrdiff_t o = b * 16, n = outputs - o < 16 ? outputs - o : 16;
        for (ptrdiff_t r0 = 0; r0 < rows; r0 += ROWS) {
            const ptrdiff_t R = rows - r0 < ROWS ? rows - r0 : ROWS;
            v16f acc[ROWS] = {0};
            for (ptrdiff_t i = 0; i < inputs; i++) {
                const v16f w = int8_codes(qb + i * 16);
                for (ptrdiff_t k = 0; k < R; k++)
                    acc[k] = __builtin_elementwise_fma((v16f)x[(r0 + k) * inputs + i], w, acc[k]);
            }
            for (ptrdiff_t k = 0; k < R; k++) store_lanes(y + (r0 + k) * outputs + o, acc[k] * scale, bias ? bias + o : 0, n);
        }
    }
}

__attribute__((always_inline)) static inline void qlinear_int4_body(
    const float *restrict x, ptrdiff_t rows, ptrdiff_t inputs, const uint8_t *restrict codes, ptrdiff_t group,
    const uint16_t *restrict scales, const uint16_t *restrict minimums, const float *restrict xsums,
    const float *restrict bias, float *restrict y, ptrdiff_t outputs, ptrdiff_t first, ptrdiff_t last) {
    const ptrdiff_t groups = (inputs + group - 1) / group;
    for (ptrdiff_t b = first; b < last; b++) {
        const uint8_t *cb = codes + b * inputs * 8;
        const ptrdiff_t o = b * 16, n = outputs - o < 16 ? outputs - o : 16;
        for (ptrdiff_t r0 = 0; r0 < rows; r0 += ROWS) {
            const ptrdiff_t R = rows - r0 < ROWS ? rows - r0 : ROWS;
            v16f total[ROWS] = {0};
            for (ptrdiff_t g = 0; g < groups; g++) {
                const ptrdiff_t start = g * group, end = start + group < inputs ? start + group : inputs;
                v16f acc[ROWS] = {0};
                for (ptrdiff_t i = start; i < end; i++) {
                    const v16f w = int4_codes(cb + i * 8);
                    for (ptrdiff_t k = 0; k < R; k++)
                        acc[k] = __builtin_elementwise_fma((v16f)x[(r0 + k) * inputs + i], w, acc[k]);
                }
                const v16f scale = halves(scales + (b * groups + g) * 16);
                const v16f minimum = halves(minimums + (b * groups + g) * 16);
                for (ptrdiff_t k = 0; k < R; k++) {
                    total[k] = __builtin_elementwise_fma(scale, acc[k], total[k]);
                    total[k] = __builtin_elementwise_fma(minimum, (v16f)xsums[(r0 + k) * groups + g], total[k]);
                }
            }
            for (ptrdiff_t k = 0; k < R; k++) store_lanes(y + (r0 + k) * outputs + o, total[k], bias ? bias + o : 0, n);
        }
    }
}

#if defined(__x86_64__)
#define QUANTIZED_VARIANTS(name, params, args)                                                              \
    __attribute__((target("avx512f,fma,f16c"))) static void name##_avx512 params { name##_body args; }          \
    __attribute__((target("avx2,fma,f16c"))) static void name##_avx2 params { name##_body args; }                \
    static void name##_baseline params { name##_body args; }
#else
#define QUANTIZED_VARIANTS(name, params, args) static void name##_baseline params { name##_body args; }
#endif

QUANTIZED_VARIANTS(qlinear_int8,
                   (const float *restrict x, ptrdiff_t rows, ptrdiff_t inputs, const int8_t *restrict q,
                    const uint16_t *restrict scales, const float *restrict bias, float *restrict y, ptrdiff_t outputs,
                    ptrdiff_t first, ptrdiff_t last),
                   (x, rows, inputs, q, scales, bias, y, outputs, first, last))
QUANTIZED_VARIANTS(qlinear_int4,
                   (const float *restrict x, ptrdiff_t rows, ptrdiff_t inputs, const uint8_t *restrict codes,
                    ptrdiff_t group, const uint16_t *restrict scales, const uint16_t *restrict minimums,
                    const float *restrict xsums, const float *restrict bias, float *restrict y, ptrdiff_t outputs,
                    ptrdiff_t first, ptrdiff_t last),
                   (x, rows, inputs, codes, group, scales, minimums, xsums, bias, y, outputs, first, last))

void tessera_qlinear_int8(int variant, const float *x, ptrdiff_t rows, ptrdiff_t inputs, const int8_t *q,
                          const uint16_t *scales, const float *bias, float *y, ptrdiff_t outputs, ptrdiff_t first,
                          ptrdiff_t last) {
    TESSERA_DISPATCH(variant, qlinear_int8, (x, rows, inputs, q, scales, bias, y, outputs, first, last))
}

void tessera_qlinear_int4(int variant, const float *x, ptrdiff_t rows, ptrdiff_t inputs, const uint8_t *codes,
                          ptrdiff_t group, const uint16_t *scales, const uint16_t *minimums, const float *xsums,
                          const float *bias, float *y, ptrdiff_t outputs, ptrdiff_t first, ptrdiff_t last) {
    TESSERA_DISPATCH(variant, qlinear_int4,
                     (x, rows, inputs, codes, group, scales, minimums, xsums, bias, y, outputs, first, last))
}

void tessera_group_sums(const float *x, ptrdiff_t rows, ptrdiff_t inputs, ptrdiff_t group, float *sums) {
    const ptrdiff_t groups = (inputs + group - 1) / group;
    for (ptrdiff_t r = 0; r < rows; r++)
        for (ptrdiff_t g = 0; g < groups; g++) {
            float s = 0;
            const ptrdiff_t end = (g + 1) * group < inputs ? (g + 1) * group : inputs;
            for (ptrdiff_t i = g * group; i < end; i++) s += x[r * inputs + i];
            sums[r * groups + g] = s;
        }
}
