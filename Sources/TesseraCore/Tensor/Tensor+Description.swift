import Foundation

extension Tensor: CustomStringConvertible {
  /// A NumPy-like rendering, elided past 6 entries per axis.
  public var description: String {
    let values = scalars
    func render(_ axis: Int, _ base: Int) -> String {
      if axis == rank { return String(format: "%.4g", Double(values[base])) }
      let n = shape[axis]
      let step = shape[(axis + 1)...].reduce(1, *)
      let shown: [Int] = n > 6 ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : Array(0..<n)
      let parts = shown.map { $0 < 0 ? "…" : render(axis + 1, base + $0 * step) }
      let sep = axis == rank - 1 ? ", " : ",\n" + String(repeating: " ", count: axis + 1)
      return "[" + parts.joined(separator: sep) + "]"
    }
    let body = count == 0 ? "[]" : render(0, 0)
    return "Tensor(shape: \(shape.shapeDescription)\(isTraced ? ", traced" : ""),\n" + body + ")"
  }
}

extension Tensor {
  /// True when every element is within `absoluteTolerance + relativeTolerance·|other|`
  /// (shapes must match). NaNs are never close.
  public func isApproximatelyEqual(to other: Tensor, relativeTolerance: Float = 1e-4, absoluteTolerance: Float = 1e-6)
    -> Bool
  {
    guard shape == other.shape else { return false }
    let a = scalars, b = other.scalars
    for i in 0..<a.count where !(Swift.abs(a[i] - b[i]) <= absoluteTolerance + relativeTolerance * Swift.abs(b[i])) {
      return false
    }
    return true
  }

  /// `‖self − reference‖₂ / ‖reference‖₂`, the relative RMS error used by the reference tests.
  public func relativeError(to reference: Tensor) -> Float {
    check(
      shape == reference.shape,
      "relativeError: shapes \(shape.shapeDescription) and \(reference.shape.shapeDescription) differ")
    let a = scalars, b = reference.scalars
    var num: Double = 0, den: Double = 0
    for i in 0..<a.count {
      let d = Double(a[i]) - Double(b[i])
      num += d * d
      den += Double(b[i]) * Double(b[i])
    }
    return Float((num / Swift.max(den, 1e-30)).squareRoot())
  }
}
