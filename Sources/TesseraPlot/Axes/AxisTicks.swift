import Foundation

/// A labelled position on an axis.
public struct Tick: Equatable, Sendable {
  public var value: Double
  public var label: String
}

/// Tick placement: "nice" steps (1, 2, 2.5, 5 × 10ᵏ) on linear axes, powers of ten on log axes
/// (with 2× and 5× ticks when the range spans less than two decades).
public enum AxisTicks {
  /// Ticks inside `low…high` (data values), at most about `maxCount` of them.
  public static func ticks(from low: Double, to high: Double, scale: AxisScale, maxCount: Int) -> [Tick] {
    switch scale {
    case .linear: return linear(low, high, maxCount: max(2, maxCount))
    case .log: return logarithmic(low, high, maxCount: max(2, maxCount))
    }
  }

  static func linear(_ low: Double, _ high: Double, maxCount: Int) -> [Tick] {
    guard low.isFinite, high.isFinite, high > low else { return [] }
    let span = high - low
    let raw = span / Double(maxCount)
    let magnitude = pow(10, floor(log10(raw)))
    var step = magnitude * 10
    var multiple = 10.0
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] where span / (m * magnitude) <= Double(maxCount) {
      step = m * magnitude
      multiple = m
      break
    }
    let first = (low / step - 1e-9).rounded(.up)
    let last = (high / step + 1e-9).rounded(.down)
    guard last >= first else { return [] }
    let decimals = max(0, -Int(floor(log10(step) + 1e-9)) + (multiple == 2.5 ? 1 : 0))
    let largest = max(abs(first * step), abs(last * step))
    let scientific = largest >= 1e6 || (largest > 0 && largest < 1e-3)
    return stride(from: first, through: last, by: 1).map { i in
      let v = i * step
      let value = abs(v) < step * 1e-9 ? 0 : v
      return Tick(value: value, label: scientific ? scientificLabel(value) : fixedLabel(value, decimals: decimals))
    }
  }

  static func logarithmic(_ low: Double, _ high: Double, maxCount: Int) -> [Tick] {
    guard low > 0, high > low, low.isFinite, high.isFinite else { return [] }
    let lo = log10(low), hi = log10(high)
    let firstDecade = Int((lo - 1e-9).rounded(.up)), lastDecade = Int((hi + 1e-9).rounded(.down))
    let decades = hi - lo
    var values: [Double] = []
    var powersOnly = true
    if decades < 2 {
      powersOnly = false
      for k in Int(lo.rounded(.down))...Int(hi.rounded(.up)) {
        for m in [1.0, 2.0, 5.0] {
          let v = m * pow(10, Double(k))
          let t = log10(v)
          if t >= lo - 1e-9 && t <= hi + 1e-9 { values.append(v) }
        }
      }
      if values.count < 2 { return linear(low, high, maxCount: maxCount) }
    } else if lastDecade >= firstDecade {
      let count = lastDecade - firstDecade + 1
      let every = max(1, Int((Double(count) / Double(maxCount)).rounded(.up)))
      values = stride(from: firstDecade, through: lastDecade, by: every).map { pow(10, Double($0)) }
    }
    return values.map { v in
      Tick(value: v, label: powersOnly ? powerLabel(Int(log10(v).rounded())) : decimalLabel(v))
    }
  }

  static func fixedLabel(_ v: Double, decimals: Int) -> String {
    let text = String(format: "%.\(decimals)f", v)
    return text.hasPrefix("-") && Double(text) == 0
      ? String(text.dropFirst()) : text.replacingOccurrences(of: "-", with: "−")
  }

  /// `2.5×10⁶`, or `10⁶` for a power of ten.
  static func scientificLabel(_ v: Double) -> String {
    if v == 0 { return "0" }
    let exponent = Int(floor(log10(abs(v)) + 1e-9))
    let mantissa = v / pow(10, Double(exponent))
    if abs(abs(mantissa) - 1) < 1e-9 { return (v < 0 ? "−" : "") + powerLabel(exponent) }
    var m = String(format: "%.2f", mantissa)
    while m.hasSuffix("0") { m.removeLast() }
    if m.hasSuffix(".") { m.removeLast() }
    return m.replacingOccurrences(of: "-", with: "−") + "×" + powerLabel(exponent)
  }

  /// `10⁻³`.
  static func powerLabel(_ exponent: Int) -> String {
    let superscripts: [Character: Character] = [
      "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻",
    ]
    return "10" + String(String(exponent).map { superscripts[$0] ?? $0 })
  }

  /// A value of the form m×10ᵏ written out (`0.002`, `50`), or in scientific form when far from 1.
  static func decimalLabel(_ v: Double) -> String {
    if v >= 1e5 || v < 1e-3 { return scientificLabel(v) }
    let decimals = max(0, -Int(floor(log10(v) + 1e-9)))
    return fixedLabel(v, decimals: decimals)
  }
}
