internal import CBLAS

// Inverse of a unit lower-triangular matrix, batched over leading axes.
//   X = (I + L)⁻¹ with L the strictly lower part of the input (its diagonal and upper part are
//   not read). Forward: a triangular solve against the identity (cblas_strsm, unit diagonal).
//   Pullback: dX = −X dL X, so dL = −(Xᵀ G Xᵀ) restricted to the strictly lower part.
// The chunked delta rule needs it: its in-chunk writes form (I + L) U = R with L strictly lower.

extension Tensor {
  /// `(I + L)⁻¹` for `L` the strictly lower-triangular part of each trailing `[n, n]` matrix
  /// (the diagonal and the upper triangle of `self` are ignored). Differentiable; batched over
  /// the leading axes. Exact up to float rounding: forward substitution, no pivoting (none is
  /// needed for a unit triangle).
  public func unitLowerTriangularInverse() -> Tensor {
    check(
      rank >= 2 && shape[rank - 1] == shape[rank - 2],
      "unitLowerTriangularInverse: expected [..., n, n], got \(shape)")
    let n = shape[rank - 1]
    let src = contiguousUntraced()
    let out = Tensor(uninitializedShape: shape)
    let matrices = n == 0 ? 0 : count / (n * n)
    Runtime.prepareBLAS()
    let a = src.basePointer, x = out.storage.base
    Runtime.parallelFor(matrices, grain: Swift.max(1, 4096 / Swift.max(1, n * n))) { range in
      for m in range {
        let am = a + m * n * n, xm = x + m * n * n
        for i in 0..<(n * n) { xm[i] = 0 }
        for i in 0..<n { xm[i * n + i] = 1 }
        cblas_strsm(
          CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, Int32(n), Int32(n), 1, am, Int32(n), xm,
          Int32(n))
      }
    }
    let inverse = out
    return Tensor.record(out, op: "unitLowerTriangularInverse", input: self) { g in
      let xt = inverse.transposed(-2, -1)
      return -TesseraCore.matmul(TesseraCore.matmul(xt, g), xt).lowerTriangle(diagonal: -1)
    }
  }
}
