// The scalar exp and tanh shared by the kernels. They mirror TesseraCore's `VectorMath.exp` and
// `VectorMath.tanh` operation for operation (same constants, same order, no contraction), so the
// C kernels and the Swift definitions give identical bits.

#ifndef TESSERA_SCALAR_MATH_H
#define TESSERA_SCALAR_MATH_H

// No floating-point contraction from here to the end of every file that includes this header:
// a fused multiply-add rounds once where the Swift definitions round twice, so an FMA would
// change the bits (and differ between the AVX-512/AVX2 clones and the baseline one). Set here
// rather than as a compiler flag so that the package builds with ordinary flags.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

// One public kernel built three times, for AVX-512, AVX2 and baseline x86-64, from one body, and
// chosen by the caller's `variant` (TESSERA_GEMM_AVX512 / _AVX2 / _BASELINE, which the CPU must run):
//
//     TESSERA_VARIANTS(name, (params), (args))  // defines void name(int variant, params) over name_body(args)
//
// Chosen by the caller rather than by the loader so that one machine can run, and test, every
// variant it has (TESSERA_ISA).
#if defined(__x86_64__)
#define TESSERA_VARIANTS(name, params, args)                                                                \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; }               \
    __attribute__((target("avx2"))) static void name##_avx2 params { name##_body args; }                    \
    static void name##_baseline params { name##_body args; }
#define TESSERA_DISPATCH(variant, name, args)                                                               \
    switch (variant) {                                                                                      \
    case TESSERA_GEMM_AVX512: name##_avx512 args; break;                                                    \
    case TESSERA_GEMM_AVX2: name##_avx2 args; break;                                                        \
    default: name##_baseline args; break;                                                                   \
    }
#else
#define TESSERA_VARIANTS(name, params, args) static void name##_baseline params { name##_body args; }
#define TESSERA_DISPATCH(variant, name, args) name##_baseline args;
#endif

// eˣ: Cody–Waite reduction x = n·ln2 + r, Cephes' degree-6 polynomial for eʳ, 2ⁿ from the bits.
static inline float exp_approx(float x) {
    const float shifter = 12582912.0f;  // 1.5·2²³
    float xc = x < -87.5f ? -87.5f : (x > 88.5f ? 88.5f : x);
    float t = xc * 1.44269504f + shifter;
    float n = t - shifter;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    uint32_t scaleBits = (bits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &scaleBits, sizeof scale);
    float y = p * scale;
    y = x < -87.33f ? 0.0f : y;
    y = x > 88.72f ? INFINITY : y;
    return x != x ? x : y;
}

// tanh: an odd Taylor polynomial near 0, else sign(x)·(1 − e)/(1 + e) with e = e^(−2|x|).
static inline float tanh_approx(float x) {
    float ax = x < 0 ? -x : x;
    float x2 = x * x;
    float small = x + x * x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f)));
    float e = exp_approx(-2.0f * ax);
    float magnitude = (1.0f - e) / (1.0f + e);
    float large = x < 0 ? -magnitude : magnitude;
    return ax < 0.125f ? small : large;
}

#endif
