// Shifted exponentials for softmax-style kernels, vectorised for the widest instruction set the CPU
// has; each element equals `VectorMath.exp(x − shift)` bit for bit.

#include "CKernels.h"
#include "ScalarMath.h"

TESSERA_CLONES
void tessera_exp_shifted(float *restrict x, ptrdiff_t n, float shift) {
    for (ptrdiff_t i = 0; i < n; i++) x[i] = exp_approx(x[i] - shift);
}
