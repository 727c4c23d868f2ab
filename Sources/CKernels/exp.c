// Shifted exponentials for softmax-style kernels, vectorised for each instruction set; each element
// equals `VectorMath.exp(x − shift)` bit for bit in every variant.

#include "CKernels.h"
#include "ScalarMath.h"

__attribute__((always_inline)) static inline void exp_shifted_body(float *restrict x, ptrdiff_t n, float shift) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = exp_approx(x[i] - shift);
}
TESSERA_VARIANTS(exp_shifted, (float *restrict x, ptrdiff_t n, float shift), (x, n, shift))

void tessera_exp_shifted(int variant, float *restrict x, ptrdiff_t n, float shift) {
    TESSERA_DISPATCH(variant, exp_shifted, (x, n, shift))
}
