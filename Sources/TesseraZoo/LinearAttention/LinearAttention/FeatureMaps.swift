import Foundation
import TesseraCore

/// Feature maps `φ` of linear attention: `softmax(q·k)` is replaced by `φ(q)·φ(k)`, which
/// factorises over time and so becomes a recurrence. Input `[B, T, H, K]`, output
/// `[B, T, H, K′]`.
public enum FeatureMap: String, Codable, Sendable, CaseIterable {
  /// `φ(x) = x` (K′ = K): the unnormalised linear attention of the recurrence family.
  case identity
  /// `φ(x) = elu(x) + 1` (K′ = K), positive, so the normaliser `φ(q)·Σφ(k)` is positive
  /// (Katharopoulos et al., "Transformers are RNNs", 2020).
  case eluPlusOne
  /// The second-order Taylor expansion of `exp(q·k)`: `φ(x) = [1, x, vec(x xᵀ)/√2]`
  /// (K′ = 1 + K + K²), so `φ(q)·φ(k) = 1 + q·k + (q·k)²/2` (Based: Arora et al., "Simple linear
  /// attention language models balance the recall-throughput tradeoff", 2024).
  case taylor

  /// The feature dimension for keys of width `k`.
  public func dimension(_ k: Int) -> Int {
    switch self {
    case .identity, .eluPlusOne: k
    case .taylor: 1 + k + k * k
    }
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    switch self {
    case .identity: return x
    case .eluPlusOne:
      // elu(x) + 1 = x + 1 for x > 0, eˣ otherwise: relu(x) + e^{min(x, 0)}.
      return x.relu() + (-((-x).relu())).exp()
    case .taylor:
      let (b, t, h, k) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
      let outer = (x.expandingDimensions(at: 4) * x.expandingDimensions(at: 3)).reshaped(b, t, h, k * k)
      return concatenate([Tensor.ones([b, t, h, 1]), x, outer * Float(0.5).squareRoot()], axis: 3)
    }
  }
}

/// Linear attention with a feature map and, optionally, the normaliser of Katharopoulos et al.
/// (2020):
///
///     o_t = φ(q_t) S_t / (φ(q_t) · z_t)        S_t = Σ_{s≤t} φ(k_s)ᵀ v_s      z_t = Σ_{s≤t} φ(k_s)
///
/// computed by the gated linear recurrence (no decay) in `form` with the values extended by a
/// column of ones, whose output is the normaliser. Unnormalised, it is `φ(q_t) S_t` scaled by
/// `K′^-1/2`. `q`, `k` `[B, T, H, K]`, `v` `[B, T, H, V]`; returns `[B, T, H, V]`.
public func featureMapLinearAttention(
  _ q: Tensor, _ k: Tensor, _ v: Tensor, featureMap: FeatureMap, normalized: Bool,
  form: Form = .chunked(size: 64), epsilon: Float = 1e-6
) -> Tensor {
  let fq = featureMap(q), fk = featureMap(k)
  guard normalized else { return GatedLinearRecurrence.evaluate(fq, fk, v, form: form).output }
  let (b, t, h) = (v.shape[0], v.shape[1], v.shape[2])
  let extended = concatenate([v, Tensor.ones([b, t, h, 1])], axis: 3)
  let o = GatedLinearRecurrence.evaluate(fq, fk, extended, scale: 1, form: form).output
  let vd = v.shape[3]
  return o.slice(axis: 3, 0..<vd) / (o.slice(axis: 3, vd..<(vd + 1)) + epsilon)
}

extension FeatureMap {
  /// Decoded from its name; any other string is refused with the names allowed.
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
