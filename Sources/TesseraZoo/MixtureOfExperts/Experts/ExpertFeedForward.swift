import TesseraCore
import TesseraNN

/// The nonlinearity of an expert's feed-forward network.
public enum ExpertActivation: String, Codable, Sendable, CaseIterable {
  /// `down(silu(gate(x)) ⊙ up(x))` (Mixtral, DeepSeekMoE).
  case swiglu
  /// `down(gelu(up(x)))`, GELU in its exact (erf) form.
  case gelu
  /// `down(relu(up(x)))` (Switch Transformer's T5 experts).
  case relu
}

/// One expert of a mixture: a feed-forward network without biases, `[n, D] → [n, D]` through its
/// own hidden width (experts of one layer may differ in width). Weights in PyTorch's layout,
/// `gate`/`up` `[hidden, D]` and `down` `[D, hidden]` (Mixtral's `w1`, `w3`, `w2`).
public final class ExpertFeedForward: Module {
  public let gate: Linear?
  public let up: Linear
  public let down: Linear
  public let activation: ExpertActivation

  public init(width: Int, hidden: Int, activation: ExpertActivation, generator: inout RandomGenerator) {
    self.activation = activation
    gate = activation == .swiglu ? Linear(width, hidden, bias: false, generator: &generator) : nil
    up = Linear(width, hidden, bias: false, generator: &generator)
    down = Linear(hidden, width, bias: false, generator: &generator)
  }

  public var hiddenWidth: Int { up.outputCount }

  /// The expert on rows `[n, D]` (or any `[..., D]`).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    switch activation {
    case .swiglu: return down(gate!(x).silu() * up(x))
    case .gelu: return down(up(x).gelu())
    case .relu: return down(up(x).relu())
    }
  }

  /// Experts of one shape (hidden width and activation) on consecutive row groups of `x` `[M, D]`
  /// (expert `e` on rows `offsets[e] ..< offsets[e + 1]`), each projection one grouped product
  /// (``groupedLinear(_:weights:offsets:)``) and each activation one pass over all rows.
  public static func grouped(_ x: Tensor, _ experts: [ExpertFeedForward], offsets: [Int]) -> Tensor {
    let activation = experts[0].activation
    check(
      experts.allSatisfy { $0.activation == activation && $0.hiddenWidth == experts[0].hiddenWidth },
      "ExpertFeedForward.grouped: the experts differ in shape")
    let up = groupedLinear(x, weights: experts.map(\.up.weight), offsets: offsets)
    let hidden: Tensor
    switch activation {
    case .swiglu: hidden = groupedLinear(x, weights: experts.map { $0.gate!.weight }, offsets: offsets).silu() * up
    case .gelu: hidden = up.gelu()
    case .relu: hidden = up.relu()
    }
    return groupedLinear(hidden, weights: experts.map(\.down.weight), offsets: offsets)
  }

  /// Counted FLOPs over `rows` rows (see ``LayerCost``): the projections and the activation.
  public func flops(rows: Int) -> Int {
    let hidden = hiddenWidth
    let projections = (gate?.flops(rows: rows) ?? 0) + up.flops(rows: rows) + down.flops(rows: rows)
    switch activation {
    case .swiglu: return projections + rows * hidden * (FlopCount.silu + FlopCount.arithmetic)
    case .gelu: return projections + rows * hidden * FlopCount.geluErf
    case .relu: return projections + rows * hidden * FlopCount.arithmetic
    }
  }

  /// Bytes of activations kept for the backward pass over `rows` rows (float32).
  public func activationBytes(rows: Int) -> Int { 4 * rows * hiddenWidth * (activation == .swiglu ? 3 : 2) }
}

extension ExpertActivation {
  /// Decoded from its name; any other string is refused with the names allowed.
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
