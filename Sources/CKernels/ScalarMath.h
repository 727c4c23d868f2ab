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

#if defined(__x86_64__) && defined(__linux__)
#define TESSERA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TESSERA_CLONES
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
