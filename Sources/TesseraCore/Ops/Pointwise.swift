import Foundation

// Pointwise functions. Each forward kernel sits right above its pullback; pullbacks use fused
// two-input kernels on (cotangent, saved value) so backward makes one pass over memory.

extension Tensor {
  /// `-x`.
  public static prefix func - (x: Tensor) -> Tensor {
    record(Elementwise.map(x, Kernels.Negate()), op: "negate", input: x) { g in -g }
  }

  /// `eˣ`.
  public func exp() -> Tensor {
    let y = Elementwise.map(self, Kernels.Exp())
    return Tensor.record(y, op: "exp", input: self) { g in Elementwise.zip(g, y, op: "exp'", Kernels.Multiply()) }
  }

  /// Natural logarithm.
  public func log() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Foundation.log($0) }, op: "log", input: x) { g in
      Elementwise.zip(g, x, op: "log'") { $0 / $1 }
    }
  }

  /// `sin x` (radians).
  public func sin() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Foundation.sin($0) }, op: "sin", input: x) { g in
      Elementwise.zip(g, x, op: "sin'") { g, x in g * Foundation.cos(x) }
    }
  }

  /// `cos x` (radians).
  public func cos() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Foundation.cos($0) }, op: "cos", input: x) { g in
      Elementwise.zip(g, x, op: "cos'") { g, x in -g * Foundation.sin(x) }
    }
  }

  /// `√x`.
  public func sqrt() -> Tensor {
    let y = Elementwise.map(self) { $0.squareRoot() }
    return Tensor.record(y, op: "sqrt", input: self) { g in Elementwise.zip(g, y, op: "sqrt'") { 0.5 * $0 / $1 } }
  }

  /// `1 / √x`.
  public func rsqrt() -> Tensor {
    let y = Elementwise.map(self) { 1 / $0.squareRoot() }
    return Tensor.record(y, op: "rsqrt", input: self) { g in
      Elementwise.zip(g, y, op: "rsqrt'") { g, y in -0.5 * g * y * y * y }
    }
  }

  /// Hyperbolic tangent.
  public func tanh() -> Tensor {
    let y = Elementwise.map(self, Kernels.Tanh())
    return Tensor.record(y, op: "tanh", input: self) { g in Elementwise.zip(g, y, op: "tanh'", Kernels.TanhGrad()) }
  }

  /// `σ(x) = 1 / (1 + e⁻ˣ)`.
  public func sigmoid() -> Tensor {
    let y = Elementwise.map(self, Kernels.Sigmoid())
    return Tensor.record(y, op: "sigmoid", input: self) { g in
      Elementwise.zip(g, y, op: "sigmoid'", Kernels.SigmoidGrad())
    }
  }

  /// `max(x, 0)`.
  public func relu() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x, Kernels.Relu()), op: "relu", input: x) { g in
      Elementwise.zip(g, x, op: "relu'", Kernels.ReluGrad())
    }
  }

  /// GELU (Hendrycks & Gimpel, 2016): `x·Φ(x)` exactly, or with the tanh approximation used by
  /// GPT-2 when `approximate` is true.
  public func gelu(approximate: Bool = false) -> Tensor {
    let x = self
    if approximate {
      return Tensor.record(Elementwise.geluTanh(x), op: "gelu(tanh)", input: x) { g in
        Elementwise.geluTanhBackward(g, x)
      }
    }
    return Tensor.record(Elementwise.map(x) { Scalar.gelu($0) }, op: "gelu", input: x) { g in
      Elementwise.zip(g, x, op: "gelu'") { g, x in g * Scalar.geluDerivative(x) }
    }
  }

  /// SiLU / swish: `x·σ(x)`.
  public func silu() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x, Kernels.Silu()), op: "silu", input: x) { g in
      Elementwise.zip(g, x, op: "silu'", Kernels.SiluGrad())
    }
  }

  /// `log(1 + eˣ)`, computed without overflow.
  public func softplus() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Scalar.softplus($0) }, op: "softplus", input: x) { g in
      Elementwise.zip(g, x, op: "softplus'") { g, x in g * VectorMath.sigmoid(x) }
    }
  }

  /// `log σ(x) = -softplus(-x)`.
  public func logSigmoid() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { -Scalar.softplus(-$0) }, op: "logSigmoid", input: x) { g in
      Elementwise.zip(g, x, op: "logSigmoid'") { g, x in g * VectorMath.sigmoid(-x) }
    }
  }

  /// `|x|` (gradient `sign(x)`, 0 at 0).
  public func abs() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Swift.abs($0) }, op: "abs", input: x) { g in
      Elementwise.zip(g, x, op: "abs'") { g, x in x > 0 ? g : (x < 0 ? -g : 0) }
    }
  }

  /// `x²`.
  public func square() -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x, Kernels.Square()), op: "square", input: x) { g in
      Elementwise.zip(g, x, op: "square'", Kernels.SquareGrad())
    }
  }

  /// `xᵖ` for a constant exponent.
  public func pow(_ exponent: Float) -> Tensor {
    let x = self
    return Tensor.record(Elementwise.map(x) { Foundation.pow($0, exponent) }, op: "pow", input: x) { g in
      Elementwise.zip(g, x, op: "pow'") { g, x in g * exponent * Foundation.pow(x, exponent - 1) }
    }
  }

  /// `-1`, `0` or `1` by sign (not differentiable).
  public func sign() -> Tensor {
    Elementwise.map(self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
  }
}

/// Free-function spellings for formulas that read better that way: `exp(x)`, `softmax(x)`.
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// Natural logarithm.
public func log(_ x: Tensor) -> Tensor { x.log() }
/// `√x`.
public func sqrt(_ x: Tensor) -> Tensor { x.sqrt() }
/// Hyperbolic tangent.
public func tanh(_ x: Tensor) -> Tensor { x.tanh() }
/// Logistic sigmoid.
public func sigmoid(_ x: Tensor) -> Tensor { x.sigmoid() }
/// Rectified linear unit.
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// GELU, exact or tanh-approximated.
public func gelu(_ x: Tensor, approximate: Bool = false) -> Tensor { x.gelu(approximate: approximate) }
/// SiLU / swish.
public func silu(_ x: Tensor) -> Tensor { x.silu() }
/// `log(1 + eˣ)`.
public func softplus(_ x: Tensor) -> Tensor { x.softplus() }
/// `log σ(x)`.
public func logSigmoid(_ x: Tensor) -> Tensor { x.logSigmoid() }

/// Scalar definitions shared by the tensor kernels.
enum Scalar {

  @inline(__always) static func softplus(_ x: Float) -> Float {
    max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
  }

  static let inverseSqrt2: Float = 0.70710678118654752
  static let inverseSqrt2Pi: Float = 0.39894228040143268

  @inline(__always) static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * inverseSqrt2)) }

  @inline(__always) static func geluDerivative(_ x: Float) -> Float {
    0.5 * (1 + Foundation.erf(x * inverseSqrt2)) + x * inverseSqrt2Pi * Foundation.exp(-0.5 * x * x)
  }

}
