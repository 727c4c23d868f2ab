import TesseraCore

/// Where the elements of a random test input lie.
public enum InputDomain: Sendable {
  /// Standard normal.
  case normal
  /// Uniform on `[0.5, 2]`: safe for log, sqrt, division, pow.
  case positive
  /// Normal, but every |x| ≥ 0.2: keeps finite differences away from the kinks of relu/abs.
  case awayFromZero
  /// A shuffled grid of distinct values spaced 0.1 apart: keeps max/min/sort/topK away from ties.
  case distinct
}

/// Seeded random tensors for tests.
public enum RandomTensors {
  /// A tensor of `shape` drawn from `domain`, reproducible from `seed`.
  public static func make(_ shape: [Int], seed: UInt64, domain: InputDomain = .normal) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    switch domain {
    case .normal:
      return rng.normal(shape)
    case .positive:
      return rng.uniform(shape, low: 0.5, high: 2)
    case .awayFromZero:
      let x = rng.normal(shape)
      return Tensor(x.scalars.map { $0 >= 0 ? $0 + 0.2 : $0 - 0.2 }, shape: shape)
    case .distinct:
      let n = shape.reduce(1, *)
      let order = rng.permutation(n)
      return Tensor(order.map { Float($0 - n / 2) * 0.1 }, shape: shape)
    }
  }
}
