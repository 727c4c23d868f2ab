import Foundation

/// How data values map onto an axis.
public enum AxisScale: Sendable {
  case linear
  /// Base-10 logarithmic; values ≤ 0 are skipped.
  case log

  /// The value in the axis's own space (log10 for `.log`); nil when it cannot be shown.
  func transform(_ v: Double) -> Double? {
    guard v.isFinite else { return nil }
    switch self {
    case .linear: return v
    case .log: return v > 0 ? log10(v) : nil
    }
  }

  func inverse(_ t: Double) -> Double {
    switch self {
    case .linear: return t
    case .log: return pow(10, t)
    }
  }
}

/// One axis of a panel once its limits are known: maps data values to page coordinates.
struct AxisMap {
  var scale: AxisScale
  /// Limits in transformed space.
  var low: Double
  var high: Double
  /// Page coordinates of `low` and `high` (for a y axis `start` is the bottom).
  var start: Double
  var end: Double

  /// The page coordinate of a data value; nil for values the scale cannot show.
  func position(_ v: Double) -> Double? {
    guard let t = scale.transform(v) else { return nil }
    return position(transformed: t)
  }

  func position(transformed t: Double) -> Double {
    start + (t - low) / (high - low) * (end - start)
  }
}
