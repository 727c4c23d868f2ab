import TesseraCore
import TesseraNN

/// The options of the feed-forward channel layers.
public struct FeedForwardOptions: LayerOptions {
  /// Hidden width (nil: 4 × the model width).
  public var hidden: Int?
  public init() {}
}

/// A position-wise feed-forward layer in a block's channel slot: one `hidden` width, no state.
public protocol FeedForwardFamily: LayerFamily where Options == FeedForwardOptions {
  init(_ dimension: Int, hidden: Int, generator: inout RandomGenerator)
  func callAsFunction(_ x: Tensor) -> Tensor
  /// The hidden width.
  var hiddenWidth: Int { get }
}

extension FeedForwardFamily {
  public static var slot: LayerSlot { .channel }
  public static var capabilities: LayerCapabilities { [.causal, .bidirectional] }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("hidden", options.hidden ?? 1, 1)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(width, hidden: options.hidden ?? 4 * width, generator: &generator)
  }

  public var options: Options {
    var options = Options()
    options.hidden = hiddenWidth
    return options
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { self(x) }
}

/// The transformer's feed-forward layer as a channel layer: `down(gelu(up(x)))`, GELU in
/// GPT-2's tanh form. Kind `mlp`.
extension MLP: FeedForwardFamily {
  public static var kind: String { "mlp" }
  public static var summary: String { "feed-forward layer with GELU (Vaswani et al., 2017; Hendrycks & Gimpel, 2016)" }
  public var hiddenWidth: Int { up.weight.shape[0] }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, hidden = hiddenWidth
    // The two projections with their biases, and GELU's tanh form on the hidden width.
    return LayerCost(
      flops: flops(rows: rows) + rows * hidden * FlopCount.geluTanh, activationBytes: 4 * rows * 2 * hidden,
      stateBytes: 0)
  }
}

/// LLaMA's gated feed-forward layer as a channel layer: `down(silu(gate(x)) ⊙ up(x))`
/// (Shazeer, 2020). Kind `swiglu`.
extension SwiGLU: FeedForwardFamily {
  public static var kind: String { "swiglu" }
  public static var summary: String { "gated feed-forward layer with SiLU (Shazeer, 2020)" }
  public var hiddenWidth: Int { up.weight.shape[0] }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, hidden = hiddenWidth
    // Three projections, SiLU on the gate and the gating product.
    return LayerCost(
      flops: flops(rows: rows) + rows * hidden * (FlopCount.silu + FlopCount.arithmetic),
      activationBytes: 4 * rows * 3 * hidden, stateBytes: 0)
  }
}
