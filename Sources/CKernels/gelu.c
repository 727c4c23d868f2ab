// GELU in its tanh form and its derivative, vectorised for each instruction set.
// Mirrors `Kernels.GeluTanh` / `Kernels.GeluTanhGrad` operation for operation; a test checks
// that both give the same bits.

#include "CKernels.h"
#include "ScalarMath.h"

static const float sqrt2OverPi = 0.79788456080286536f;

__attribute__((always_inline)) static inline void gelu_tanh_body(const float *restrict x, float *restrict out,
                                                                 ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanh_approx(sqrt2OverPi * (v + 0.044715f * v * v * v)));
    }
}

__attribute__((always_inline)) static inline void gelu_tanh_backward_body(const float *restrict g,
                                                                          const float *restrict x,
                                                                          float *restrict out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_approx(sqrt2OverPi * (v + 0.044715f * v * v * v));
        out[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * sqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v));
    }
}

TESSERA_VARIANTS(gelu_tanh, (const float *restrict x, float *restrict out, ptrdiff_t n), (x, out, n))
TESSERA_VARIANTS(gelu_tanh_backward,
                 (const float *restrict g, const float *restrict x, float *restrict out, ptrdiff_t n),
                 (g, x, out, n))

void tessera_gelu_tanh(int variant, const float *restrict x, float *restrict out, ptrdiff_t n) {
    TESSERA_DISPATCH(variant, gelu_tanh, (x, out, n))
}

void tessera_gelu_tanh_backward(int variant, const float *restrict g, const float *restrict x, float *restrict out,
                                ptrdiff_t n) {
    TESSERA_DISPATCH(variant, gelu_tanh_backward, (g, x, out, n))
}
