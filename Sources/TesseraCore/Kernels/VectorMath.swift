/// `eˣ` written branch-free so that loops over it vectorise, for the kernels where exp
/// dominates (exp, softmax, log-softmax, cross-entropy).
///
/// Cody–Waite range reduction `x = n·ln2 + r` (ln2 split in two parts) and the degree-6
/// minimax polynomial of Cephes' `expf` for `eʳ` on |r| ≤ ln2/2; `n` is rounded by adding
/// 1.5·2²³, whose low mantissa bits then hold `n`, and `2ⁿ` is built from them in the exponent
/// field. Relative error ≤ 2 ulp against correctly rounded exp (tested). Inputs below −87.33
/// (results under 2⁻¹²⁶, the subnormal range) give exactly 0, so `exp(−∞) = 0` as masking needs;
/// inputs above 88.72 give +∞; NaN stays NaN.
public enum VectorMath {
  /// `eˣ` (see the type's notes); inlinable so that kernels in other modules vectorise it too.
  @inlinable @inline(__always)
  public static func exp(_ x: Float) -> Float {
    let shifter: Float = 12_582_912  // 1.5·2²³
    let lo: Float = -87.5, hi: Float = 88.5
    let xc = x < lo ? lo : (x > hi ? hi : x)
    let t = xc * 1.442_695_04 + shifter
    let n = t - shifter
    var r = xc - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    // t's bits are 0x4B400000 + n for |n| < 2²²: move n + 127 into the exponent field.
    let scale = Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
    var y = p * scale
    y = x < -87.33 ? 0 : y
    y = x > 88.72 ? .infinity : y
    return x != x ? x : y
  }

  /// `σ(x) = 1 / (1 + e⁻ˣ)`, branch-free (exp saturates to ∞ or 0 at the ends).
  @inline(__always)
  static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

  /// `tanh x`: an odd Taylor polynomial for |x| < 0.125 (no cancellation near 0), else
  /// `sign(x)·(1 − e)/(1 + e)` with `e = e^{−2|x|}`; both computed, one selected, so loops vectorise.
  @inline(__always)
  static func tanh(_ x: Float) -> Float {
    let ax = x < 0 ? -x : x
    let x2 = x * x
    let small = x + x * x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0)))
    let e = exp(-2 * ax)
    let magnitude = (1 - e) / (1 + e)
    let large = x < 0 ? -magnitude : magnitude
    return ax < 0.125 ? small : large
  }

  /// `out[i] = exp(x[i] − shift)` for `n` elements; returns their sum, accumulated in eight
  /// interleaved partial sums (an order fixed by `n`).
  @inline(__always)
  static func expShifted(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float
  {
    for i in 0..<n { out[i] = exp(x[i] - shift) }
    return Dense.sum(out, n)
  }

  /// `Σ exp(x[i] − shift)` without keeping the terms (chunks through a stack buffer).
  @inline(__always)
  static func sumExpShifted(_ x: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buffer in
      let b = buffer.baseAddress!
      var total: Float = 0
      var start = 0
      while start < n {
        let len = Swift.min(256, n - start)
        for i in 0..<len { b[i] = exp(x[start + i] - shift) }
        total += Dense.sum(b, len)
        start += len
      }
      return total
    }
  }
}
