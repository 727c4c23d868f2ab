import Foundation
import TesseraCore

/// Rotary position embedding (Su et al., "RoFormer", 2021), in the half-split layout of GPT-NeoX
/// and LLaMA: channel `i` pairs with channel `i + D/2` and the pair at position `t` turns by
/// `t · base^(−2i/D)`. Applied to queries and keys `[B, T, H, D]`; no parameters.
public struct RotaryEmbedding: Sendable {
  public let dimension: Int
  public let base: Float

  public init(dimension: Int, base: Float = 10_000) {
    check(dimension % 2 == 0, "RotaryEmbedding: the head dimension must be even, got \(dimension)")
    self.dimension = dimension
    self.base = base
  }

  /// cos and sin tables `[T, D/2]` for positions `offset..<offset+T`.
  func tables(time: Int, offset: Int) -> (cos: Tensor, sin: Tensor) {
    let half = dimension / 2
    let frequencies = (0..<half).map { pow(Double(base), -2 * Double($0) / Double(dimension)) }
    var c = [Float](repeating: 0, count: time * half), s = c
    for t in 0..<time {
      for i in 0..<half {
        let angle = Double(t + offset) * frequencies[i]
        c[t * half + i] = Float(cos(angle))
        s[t * half + i] = Float(sin(angle))
      }
    }
    return (Tensor(c, shape: [time, half]), Tensor(s, shape: [time, half]))
  }

  /// Rotates `x` `[B, T, H, D]` whose first position is `offset`: one pass forward, and one
  /// backward (the rotation by −θ). Equals ``composed(_:offset:)``, forward bit for bit.
  public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
    check(
      x.rank == 4 && x.shape[3] == dimension,
      "RotaryEmbedding: input \(x.shape) must be [B, T, H, \(dimension)]")
    let (c, s) = tables(time: x.shape[1], offset: offset)
    let y = Self.rotate(withoutGradients { x.contiguous() }, cos: c, sin: s, sign: 1)
    return Tensor.differentiable(y, op: "rotary", inputs: [x]) { g, _ in
      [Self.rotate(g.contiguous(), cos: c, sin: s, sign: -1)]
    }
  }

  /// The specification: the same rotation from slices, products and a concatenation.
  public func composed(_ x: Tensor, offset: Int = 0) -> Tensor {
    let t = x.shape[1], half = dimension / 2
    let (c, s) = tables(time: t, offset: offset)
    let cos = c.reshaped(1, t, 1, half), sin = s.reshaped(1, t, 1, half)
    let x1 = x.slice(axis: 3, 0..<half), x2 = x.slice(axis: 3, half..<dimension)
    return concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis: 3)
  }

  /// `(x₁, x₂) ↦ (x₁ cos − x₂ sin·sign, x₂ cos + x₁ sin·sign)` per pair, for contiguous `x`.
  static func rotate(_ x: Tensor, cos c: Tensor, sin s: Tensor, sign: Float) -> Tensor {
    let (rows, time, heads, d) = (x.shape[0] * x.shape[1], x.shape[1], x.shape[2], x.shape[3])
    let half = d / 2
    var out = [Tensor.zeros(x.shape)]
    Tensor.withScalars(of: [x, c, s]) { inputs in
      Tensor.withMutableScalars(of: &out) { outputs in
        let (xp, cp, sp, op) = (inputs[0], inputs[1], inputs[2], outputs[0])
        Runtime.parallelFor(rows, grain: Swift.max(1, 8192 / Swift.max(heads * d, 1))) { range in
          for r in range {
            let cr = cp + (r % time) * half, sr = sp + (r % time) * half
            for h in 0..<heads {
              let xi = xp + (r * heads + h) * d, oi = op + (r * heads + h) * d
              for i in 0..<half {
                let (x1, x2, ci, si) = (xi[i], xi[half + i], cr[i], sign * sr[i])
                oi[i] = x1 * ci - x2 * si
                oi[half + i] = x2 * ci + x1 * si
              }
            }
          }
        }
      }
    }
    return out[0]
  }
}
