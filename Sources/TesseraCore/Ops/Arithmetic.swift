import Foundation

// Binary arithmetic with NumPy broadcasting. A pullback sums its cotangent back over the axes
// its input was broadcast along (`sumToShape`).

extension Tensor {
  /// Elementwise sum (broadcasting).
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "add", Kernels.Add())
    return record(out, op: "add", inputs: [a, b]) { g, needs in
      [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? g.sum(toShape: b.shape) : nil]
    }
  }

  /// Elementwise difference (broadcasting).
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "subtract", Kernels.Subtract())
    return record(out, op: "subtract", inputs: [a, b]) { g, needs in
      [needs[0] ? g.sum(toShape: a.shape) : nil, needs[1] ? (-g).sum(toShape: b.shape) : nil]
    }
  }

  /// Elementwise product (broadcasting).
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "multiply", Kernels.Multiply())
    return record(out, op: "multiply", inputs: [a, b]) { g, needs in
      [
        needs[0] ? Elementwise.zip(g, b, op: "multiply'", Kernels.Multiply()).sum(toShape: a.shape) : nil,
        needs[1] ? Elementwise.zip(g, a, op: "multiply'", Kernels.Multiply()).sum(toShape: b.shape) : nil,
      ]
    }
  }

  /// Elementwise quotient (broadcasting).
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "divide", Kernels.Divide())
    return record(out, op: "divide", inputs: [a, b]) { g, needs in
      [
        needs[0] ? Elementwise.zip(g, b, op: "divide'", Kernels.Divide()).sum(toShape: a.shape) : nil,
        needs[1] ? Elementwise.zip3(g, out, b, op: "divide'") { g, y, b in -g * y / b }.sum(toShape: b.shape) : nil,
      ]
    }
  }

  /// Elementwise larger value; at ties each input gets half the gradient.
  public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "maximum") { Swift.max($0, $1) }
    return record(out, op: "maximum", inputs: [a, b]) { g, needs in
      [
        needs[0]
          ? Elementwise.zip3(g, a, b, op: "maximum'") { g, a, b in a > b ? g : (a == b ? 0.5 * g : 0) }.sum(
            toShape: a.shape) : nil,
        needs[1]
          ? Elementwise.zip3(g, a, b, op: "maximum'") { g, a, b in b > a ? g : (a == b ? 0.5 * g : 0) }.sum(
            toShape: b.shape) : nil,
      ]
    }
  }

  /// Elementwise smaller value; at ties each input gets half the gradient.
  public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "minimum") { Swift.min($0, $1) }
    return record(out, op: "minimum", inputs: [a, b]) { g, needs in
      [
        needs[0]
          ? Elementwise.zip3(g, a, b, op: "minimum'") { g, a, b in a < b ? g : (a == b ? 0.5 * g : 0) }.sum(
            toShape: a.shape) : nil,
        needs[1]
          ? Elementwise.zip3(g, a, b, op: "minimum'") { g, a, b in b < a ? g : (a == b ? 0.5 * g : 0) }.sum(
            toShape: b.shape) : nil,
      ]
    }
  }

  /// `aᵇ` elementwise (broadcasting). The gradient with respect to `b` is `aᵇ·log a`, defined
  /// for positive `a`.
  public static func pow(_ a: Tensor, _ b: Tensor) -> Tensor {
    let out = Elementwise.zip(a, b, op: "pow") { Foundation.pow($0, $1) }
    return record(out, op: "pow", inputs: [a, b]) { g, needs in
      [
        needs[0]
          ? Elementwise.zip3(g, a, b, op: "pow'") { g, a, b in g * b * Foundation.pow(a, b - 1) }.sum(toShape: a.shape)
          : nil,
        needs[1]
          ? Elementwise.zip3(g, out, a, op: "pow'") { g, y, a in g * y * Foundation.log(a) }.sum(toShape: b.shape)
          : nil,
      ]
    }
  }

  // MARK: Tensor ∘ scalar

  public static func + (a: Tensor, b: Float) -> Tensor {
    record(Elementwise.map(a, Kernels.Shift(amount: b)), op: "add", input: a) { $0 }
  }
  public static func + (a: Float, b: Tensor) -> Tensor { b + a }
  public static func - (a: Tensor, b: Float) -> Tensor { a + (-b) }
  public static func - (a: Float, b: Tensor) -> Tensor {
    record(Elementwise.map(b) { a - $0 }, op: "subtract", input: b) { -$0 }
  }
  public static func * (a: Tensor, b: Float) -> Tensor {
    record(Elementwise.map(a, Kernels.Scale(factor: b)), op: "multiply", input: a) { g in
      Elementwise.map(g, Kernels.Scale(factor: b))
    }
  }
  public static func * (a: Float, b: Tensor) -> Tensor { b * a }
  public static func / (a: Tensor, b: Float) -> Tensor { a * (1 / b) }
  public static func / (a: Float, b: Tensor) -> Tensor {
    let out = Elementwise.map(b) { a / $0 }
    return record(out, op: "divide", input: b) { g in
      Elementwise.zip3(g, out, b, op: "divide'") { g, y, b in -g * y / b }
    }
  }

  public static func += (a: inout Tensor, b: Tensor) { a = a + b }
  public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
  public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
  public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
  public static func += (a: inout Tensor, b: Float) { a = a + b }
  public static func -= (a: inout Tensor, b: Float) { a = a - b }
  public static func *= (a: inout Tensor, b: Float) { a = a * b }
  public static func /= (a: inout Tensor, b: Float) { a = a / b }
}

/// Elementwise larger value (broadcasting).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.maximum(a, b) }
/// Elementwise smaller value (broadcasting).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.minimum(a, b) }
/// `aᵇ` elementwise (broadcasting).
public func pow(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.pow(a, b) }

// MARK: - Comparisons and selection

extension Tensor {
  /// 1 where `a > b`, else 0 (broadcasting; not differentiable).
  public static func .> (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".>") { $0 > $1 ? 1 : 0 } }
  /// 1 where `a < b`, else 0.
  public static func .< (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".<") { $0 < $1 ? 1 : 0 } }
  /// 1 where `a >= b`, else 0.
  public static func .>= (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".>=") { $0 >= $1 ? 1 : 0 } }
  /// 1 where `a <= b`, else 0.
  public static func .<= (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".<=") { $0 <= $1 ? 1 : 0 } }
  /// 1 where `a == b`, else 0.
  public static func .== (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".==") { $0 == $1 ? 1 : 0 } }
  /// 1 where `a != b`, else 0.
  public static func .!= (a: Tensor, b: Tensor) -> Tensor { Elementwise.zip(a, b, op: ".!=") { $0 != $1 ? 1 : 0 } }

  public static func .> (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 > b ? 1 : 0 } }
  public static func .< (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 < b ? 1 : 0 } }
  public static func .>= (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 >= b ? 1 : 0 } }
  public static func .<= (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 <= b ? 1 : 0 } }
  public static func .== (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 == b ? 1 : 0 } }
  public static func .!= (a: Tensor, b: Float) -> Tensor { Elementwise.map(a) { $0 != b ? 1 : 0 } }
}

/// `a` where `mask` is nonzero, else `b` (broadcasting all three). Differentiable in `a` and `b`.
public func `where`(_ mask: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
  let m = mask.detached()
  let out = Elementwise.zip3(m, a, b, op: "where") { $0 != 0 ? $1 : $2 }
  return Tensor.record(out, op: "where", inputs: [a, b]) { g, needs in
    [
      needs[0] ? Elementwise.zip(m, g, op: "where'") { $0 != 0 ? $1 : 0 }.sum(toShape: a.shape) : nil,
      needs[1] ? Elementwise.zip(m, g, op: "where'") { $0 != 0 ? 0 : $1 }.sum(toShape: b.shape) : nil,
    ]
  }
}

/// `a` where `mask` is nonzero, else the constant `b`.
public func `where`(_ mask: Tensor, _ a: Tensor, _ b: Float) -> Tensor {
  `where`(mask, a, Tensor(b))
}
