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
    var c = [Float](repeating: 0, count: time * half), s = c
    for t in 0..<time {
      for i in 0..<half {
        let frequency = pow(Double(base), -2 * Double(i) / Double(dimension))
        let angle = Double(t + offset) * frequency
        c[t * half + i] = Float(cos(angle))
        s[t * half + i] = Float(sin(angle))
      }
    }
    return (Tensor(c, shape: [time, half]), Tensor(s, shape: [time, half]))
  }

  /// Rotates `x` `[B, T, H, D]` whose first position is `offset`.
  public func callAsFunction(_ x: Tensor, offset: Int = 0) -> Tensor {
    let t = x.shape[1], half = dimension / 2
    let (c, s) = tables(time: t, offset: offset)
    let cos = c.reshaped(1, t, 1, half), sin = s.reshaped(1, t, 1, half)
    let x1 = x.slice(axis: 3, 0..<half), x2 = x.slice(axis: 3, half..<dimension)
    return concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis: 3)
  }
}
