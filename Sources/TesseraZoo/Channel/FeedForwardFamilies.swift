import TesseraCore
import TesseraNN

/// The transformer's feed-forward layer as a channel layer: `down(gelu(up(x)))`, GELU in
/// GPT-2's tanh form. Kind `mlp`.
extension MLP: LayerFamily {
  public struct Options: LayerOptions {
    /// Hidden width (nil: 4 × the model width).
    public var hidden: Int?
    public init() {}
  }

  public static var kind: String { "mlp" }
  public static var slot: LayerSlot { .channel }
  public static var capabilities: LayerCapabilities { [.causal, .bidirectional] }
  public static var summary: String { "feed-forward layer with GELU (Vaswani et al., 2017; Hendrycks & Gimpel, 2016)" }
  public var options: Options {
    var options = Options()
    options.hidden = up.weight.shape[0]
    return options
  }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("hidden", options.hidden ?? 1, 1)
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(width, hidden: options.hidden ?? 4 * width, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { self(x) }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, hidden = up.weight.shape[0]
    // The two projections with their biases, and GELU's tanh form on the hidden width.
    return LayerCost(
      flops: flops(rows: rows) + rows * hidden * FlopCount.geluTanh, activationBytes: 4 * rows * 2 * hidden,
      stateBytes: 0)
  }
}

/// LLaMA's gated feed-forward layer as a channel layer: `down(silu(gate(x)) ⊙ up(x))`
/// (Shazeer, 2020). Kind `swiglu`.
extension SwiGLU: LayerFamily {
  public struct Options: LayerOptions {
    /// Hidden width (nil: 4 × the model width).
    public var hidden: Int?
    public init() {}
  }

  public static var kind: String { "swiglu" }
  public static var slot: LayerSlot { .channel }
  public static var capabilities: LayerCapabilities { [.causal, .bidirectional] }
  public static var summary: String { "gated feed-forward layer with SiLU (Shazeer, 2020)" }
  public var options: Options {
    var options = Options()
    options.hidden = up.weight.shape[0]
    return options
  }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("hidden", options.hidden ?? 1, 1)
  }

  public convenience init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.init(width, hidden: options.hidden ?? 4 * width, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { self(x) }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, hidden = up.weight.shape[0]
    // Three projections, SiLU on the gate and the gating product.
    return LayerCost(
      flops: flops(rows: rows) + rows * hidden * (FlopCount.silu + FlopCount.arithmetic),
      activationBytes: 4 * rows * 3 * hidden, stateBytes: 0)
  }
}
