internal import CKernels

// Pointwise kernels from the C target `CKernels`, built once per instruction set (AVX-512, AVX2,
// baseline) and chosen when the library loads. Swift compiles for the baseline x86-64 (4-wide
// SSE); these run 16 lanes where the CPU has them. They give the same bits as the Swift
// definitions (`VectorMath.exp`, GELU composed from tensor ops; tested), so which variant runs
// never changes a result.

extension Elementwise {
  /// GELU (tanh form) of every element.
  static func geluTanh(_ x: Tensor) -> Tensor { mapDense(x) { tessera_gelu_tanh($0, $1, $2) } }

  /// `g · GELU'(x)` (tanh form) for `g` and `x` of one shape.
  static func geluTanhBackward(_ g: Tensor, _ x: Tensor) -> Tensor {
    check(g.shape == x.shape, "gelu': cotangent \(g.shape.shapeDescription) for input \(x.shape.shapeDescription)")
    return zipDense(g, x) { tessera_gelu_tanh_backward($0, $1, $2, $3) }
  }
}

extension VectorMath {
  /// `x[i] = exp(x[i] − shift)` for `n` elements in place, at the CPU's full vector width; each
  /// result equals ``exp(_:)`` of `x[i] − shift` bit for bit.
  public static func exponentiate(_ x: UnsafeMutablePointer<Float>, _ n: Int, subtracting shift: Float) {
    tessera_exp_shifted(x, n, shift)
  }
}
