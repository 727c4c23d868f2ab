import TesseraCore

/// Compares reverse-mode gradients with central finite differences.
///
/// The scalar checked is `L(x) = Σ f(x) ⊙ c` for a fixed random cotangent `c`, so every output
/// element's gradient matters. Differences are taken in float32 with step `h`; their roundoff is
/// about `ulp(L)/h`, so the comparison is by norm: `‖analytic − numeric‖ / ‖numeric‖`.
public enum GradientCheck {
  public struct Result: CustomStringConvertible, Sendable {
    /// Relative error per input, by norm.
    public var relativeErrors: [Float]
    public var worst: Float { relativeErrors.max() ?? 0 }
    public var description: String { "relative errors \(relativeErrors.map { String(format: "%.2e", $0) })" }
  }

  /// Checks `f` at `inputs`; `h` is the finite-difference step.
  public static func check(
    _ inputs: [Tensor], step h: Float = 1e-2, seed: UInt64 = 99, _ f: ([Tensor]) -> Tensor
  ) -> Result {
    let probe = withoutGradients { f(inputs) }
    let cotangent = RandomTensors.make(probe.shape, seed: seed)
    func loss(_ xs: [Tensor]) -> Double {
      let y = withoutGradients { f(xs) }
      let a = y.scalars, c = cotangent.scalars
      var total: Double = 0
      for i in 0..<a.count { total += Double(a[i]) * Double(c[i]) }
      return total
    }
    let analytic = gradient(at: inputs) { xs in (f(xs) * cotangent).sum() }
    var errors: [Float] = []
    for (k, input) in inputs.enumerated() {
      let base = input.scalars
      var numeric = [Float](repeating: 0, count: base.count)
      for i in 0..<base.count {
        var plus = base, minus = base
        plus[i] += h
        minus[i] -= h
        var xp = inputs, xm = inputs
        xp[k] = Tensor(plus, shape: input.shape)
        xm[k] = Tensor(minus, shape: input.shape)
        numeric[i] = Float((loss(xp) - loss(xm)) / Double(2 * h))
      }
      let got = analytic[k].scalars
      var num: Double = 0, den: Double = 0
      for i in 0..<got.count {
        num += Double(got[i] - numeric[i]) * Double(got[i] - numeric[i])
        den += Double(numeric[i]) * Double(numeric[i])
      }
      errors.append(Float((num / Swift.max(den, 1e-12)).squareRoot()))
    }
    return Result(relativeErrors: errors)
  }
}

/// Ways to hand a kernel the same values in a different memory layout.
public enum Layout: String, CaseIterable, Sendable, CustomStringConvertible {
  /// Dense row-major.
  case contiguous
  /// A transposed view of a dense tensor of the swapped shape (rank ≥ 2 only).
  case transposed
  /// Every second element of a wider tensor (stride 2 on the last axis).
  case strided

  public var description: String { rawValue }

  /// `x` re-laid out; differentiable, values unchanged.
  public func apply(_ x: Tensor) -> Tensor {
    switch self {
    case .contiguous:
      return x
    case .transposed:
      guard x.rank >= 2 else { return x }
      let view = x.transposed().contiguous().transposed()
      precondition(!view.isContiguous || x.shape[x.rank - 1] == 1 || x.shape[x.rank - 2] == 1)
      return view
    case .strided:
      guard x.rank >= 1 else { return x }
      return stack([x, Tensor.zeros(like: x)], axis: -1).select(axis: -1, index: 0)
    }
  }
}
