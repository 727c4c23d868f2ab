// Weight-only quantized linear maps for inference: y[r, o] = Σ_i x[r, i] · w[o, i] (+ b[o]) with W
// stored as int8 per output channel (w = scale_o · q) or as 4-bit codes in groups along the input
// (w = min_g + scale_g · q, q in 0…15, two codes a byte, low nibble first). Each weight row is
// decoded as it is read; the whole matrix is never expanded.
//
// Every output is one fixed computation: 16 lanes, lane l an fmaf chain over the inputs i ≡ l
// (mod 16) in order (a 4-bit group's lanes start afresh per group), the lanes summed in one fixed
// tree. fmaf is exactly rounded, so the AVX-512, AVX2 + FMA and baseline builds give the same bits.

#include "CKernels.h"
#include "ScalarMath.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

// An IEEE half float (its bits) as a float, exactly.
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 31, mantissa = h & 0x3FFu, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do {
                mantissa <<= 1;
                e++;
            } while (!(mantissa & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mantissa & 0x3FFu) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float lanes_sum(const float *a) {
    float s[8], t[4];
    for (int l = 0; l < 8; l++) s[l] = a[l] + a[l + 8];
    for (int l = 0; l < 4; l++) t[l] = s[l] + s[l + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

__attribute__((always_inline)) static inline void qlinear_int8_body(const float *restrict x, ptrdiff_t rows,
                                                                      ptrdiff_t inputs, const int8_t *restrict q,
                                                                      const uint16_t *restrict scales,
                                                                      const float *restrict bias, float *restrict y,
                                                                      ptrdiff_t outputs, ptrdiff_t first,
                                                                      ptrdiff_t last) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * inputs;
        for (ptrdiff_t o = first; o < last; o++) {
            const int8_t *qo = q + o * inputs;
            float acc[16] = {0};
            ptrdiff_t i = 0;
            for (; i + 16 <= inputs; i += 16)
                for (int l = 0; l < 16; l++) acc[l] = fmaf(xr[i + l], (float)qo[i + l], acc[l]);
            for (int l = 0; i + l < inputs; l++) acc[l] = fmaf(xr[i + l], (float)qo[i + l], acc[l]);
            float v = lanes_sum(acc) * half_to_float(scales[o]);
            y[r * outputs + o] = bias ? v + bias[o] : v;
        }
    }
}

__attribute__((always_inline)) static inline void qlinear_int4_body(
    const float *restrict x, ptrdiff_t rows, ptrdiff_t inputs, const uint8_t *restrict codes, ptrdiff_t group,
    const uint16_t *restrict scales, const uint16_t *restrict minimums, const float *restrict xsums,
    const float *restrict bias, float *restrict y, ptrdiff_t outputs, ptrdiff_t first, ptrdiff_t last) {
    const ptrdiff_t groups = (inputs + group - 1) / group, rowBytes = (inputs + 1) / 2;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xr = x + r * inputs;
        for (ptrdiff_t o = first; o < last; o++) {
            const uint8_t *co = codes + o * rowBytes;
            float total = 0;
            for (ptrdiff_t g = 0; g < groups; g++) {
                const ptrdiff_t start = g * group, end = start + group < inputs ? start + group : inputs;
                float acc[16] = {0};
                ptrdiff_t i = start;
                for (; i + 16 <= end; i += 16) {
                    float w[16];
                    for (int l = 0; l < 16; l += 2) {
                        // start is even when group is (checked by the caller), so i + l is even.
                        uint8_t b = co[(i + l) >> 1];
                        w[l] = (float)(b & 15);
                        w[l + 1] = (float)(b >> 4);
                    }
                    for (int l = 0; l < 16; l++) acc[l] = fmaf(xr[i + l], w[l], acc[l]);
                }
                for (int l = 0; i + l < end; l++) {
                    ptrdiff_t k = i + l;
                    uint8_t b = co[k >> 1];
                    acc[l] = fmaf(xr[k], (float)((k & 1) ? (b >> 4) : (b & 15)), acc[l]);
                }
                total = fmaf(half_to_float(scales[o * groups + g]), lanes_sum(acc), total);
                total = fmaf(half_to_float(minimums[o * groups + g]), xsums[r * groups + g], total);
            }
            y[r * outputs + o] = bias ? total + bias[o] : total;
        }
    }
}

#if defined(__x86_64__)
#define QUANTIZED_VARIANTS(name, params, args)                                                              \
    __attribute__((target("avx512f,fma"))) static void name##_avx512 params { name##_body args; }          \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; }                \
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
