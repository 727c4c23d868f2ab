// Inverse of a unit lower-triangular matrix, batched over leading axes.
//   X = (I + L)⁻¹ with L the strictly lower part of the input (its diagonal and upper part are
//   not read). Forward: forward substitution row by row, X[i, :] = e_i − Σ_{j<i} L[i, j]·X[j, :],
//   the sum taken in increasing j, multiply then subtract: the same bits on every machine (no
//   BLAS kernel whose blocking depends on the CPU).
//   Pullback: dX = −X dL X, so dL = −(Xᵀ G Xᵀ) restricted to the strictly lower part.
// The chunked delta rule needs it: its in-chunk writes form (I + L) U = R with L strictly lower.

extension Tensor {
  /// `(I + L)⁻¹` for `L` the strictly lower-triangular part of each trailing `[n, n]` matrix
  /// (the diagonal and the upper triangle of `self` are ignored). Differentiable; batched over
  /// the leading axes. Exact up to float rounding: forward substitution, no pivoting (none is
  /// needed for a unit triangle), in a fixed order, so the bits do not depend on the CPU.
  public func unitLowerTriangularInverse() -> Tensor {
    check(
      rank >= 2 && shape[rank - 1] == shape[rank - 2],
      "unitLowerTriangularInverse: expected [..., n, n], got \(shape)")
    let n = shape[rank - 1]
    let src = contiguousUntraced()
    let out = Tensor(uninitializedShape: shape)
    let matrices = n == 0 ? 0 : count / (n * n)
    let a = src.basePointer, x = out.storage.base
    Runtime.parallelFor(matrices, grain: Swift.max(1, 4096 / Swift.max(1, n * n))) { range in
      for m in range {
        Self.invertUnitLower(a + m * n * n, into: x + m * n * n, n: n)
      }
    }
    let inverse = out
    return Tensor.record(out, op: "unitLowerTriangularInverse", input: self) { g in
      let xt = inverse.transposed(-2, -1)
      return -TesseraCore.matmul(TesseraCore.matmul(xt, g), xt).lowerTriangle(diagonal: -1)
    }
  }

  /// `x = (I + L)⁻¹` for one row-major `[n, n]` matrix `a` (its strictly lower part is L).
  /// Row i of x is e_i minus Σ_{j<i} a[i, j]·(row j of x), accumulated j = 0, 1, …; row j of x is
  /// zero past column j, so each update touches columns 0…j only.
  static func invertUnitLower(_ a: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, n: Int) {
    for i in 0..<(n * n) { x[i] = 0 }
    for i in 0..<n {
      let row = x + i * n
      row[i] = 1
      for j in 0..<i {
        let l = a[i * n + j]
        let source = x + j * n
        for c in 0...j { row[c] -= l * source[c] }
      }
    }
  }
}
