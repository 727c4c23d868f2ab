// GELU in its tanh form and its derivative, vectorised for the widest instruction set the CPU has.
// Mirrors `Kernels.GeluTanh` / `Kernels.GeluTanhGrad` operation for operation; a test checks
// that both give the same bits.

#include "CKernels.h"
#include "ScalarMath.h"

static const float sqrt2OverPi = 0.79788456080286536f;

TESSERA_CLONES
void tessera_gelu_tanh(const float *restrict x, float *restrict out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanh_approx(sqrt2OverPi * (v + 0.044715f * v * v * v)));
    }
}

TESSERA_CLONES
void tessera_gelu_tanh_backward(const float *restrict g, const float *restrict x, float *restrict out, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_approx(sqrt2OverPi * (v + 0.044715f * v * v * v));
        out[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * sqrt2OverPi * (1.0f + 3.0f * 0.044715f * v * v));
    }
}
