internal import CKernels

// Pointwise kernels from the C target `CKernels`, built once per instruction set (AVX-512, AVX2,
// baseline); the variant is ``GEMMKernel/variant`` of the kernel in force (the widest the CPU runs,
// or `TESSERA_ISA`). Swift compiles for the baseline x86-64 (4-wide SSE); these run 16 lanes where
// the CPU has them. Every variant gives the bits of the Swift definitions (`VectorMath.exp`, GELU
// composed from tensor ops; tested), so which variant runs never changes a result.

extension Elementwise {
  /// GELU (tanh form) of every element.
  static func geluTanh(_ x: Tensor) -> Tensor {
    let variant = GEMMKernel.current.variant.code  // read here: worker threads do not see task-local values
    return mapDense(x) { tessera_gelu_tanh(variant, $0, $1, $2) }
  }

  /// `g · GELU'(x)` (tanh form) for `g` and `x` of one shape.
  static func geluTanhBackward(_ g: Tensor, _ x: Tensor) -> Tensor {
    check(g.shape == x.shape, "gelu': cotangent \(g.shape.shapeDescription) for input \(x.shape.shapeDescription)")
    let variant = GEMMKernel.current.variant.code
    return zipDense(g, x) { tessera_gelu_tanh_backward(variant, $0, $1, $2, $3) }
  }
}

extension VectorMath {
  /// `x[i] = exp(x[i] − shift)` for `n` elements in place, in instruction-set variant `variant`
  /// (default: that of the kernel in force — pass it explicitly from worker threads, which do not
  /// see task-local values); each result equals ``exp(_:)`` of `x[i] − shift` bit for bit.
  public static func exponentiate(
    _ x: UnsafeMutablePointer<Float>, _ n: Int, subtracting shift: Float,
    variant: GEMMKernel.Variant = GEMMKernel.current.variant
  ) {
    check(variant.isSupported, "exponentiate: this CPU cannot run the \(variant.rawValue) variant")
    tessera_exp_shifted(variant.code, x, n, shift)
  }
}
