import TesseraCore
import TesseraNN

/// Switch Transformer's mixture of experts (Fedus et al., 2022, "Switch Transformers: Scaling to
/// Trillion Parameter Models with Simple and Efficient Sparsity") in a block's channel slot: top-1
/// routing with an expert capacity of `⌊T · capacityFactor ÷ E⌋` (at least `minimumCapacity`)
/// per sequence, tokens claiming capacity in token order, an overflowing token dropped (zero
/// expert output; its residual carries it) (``switchRouting(logits:capacity:groups:)``). Losses:
/// Switch's load-balancing loss (α = `loadBalanceWeight`), optionally the router z-loss.
/// `[B, T, D] → [B, T, D]`. Kind `moe-switch`.
public final class SwitchLayer: MixtureOfExpertsLayer, LayerFamily {
  public struct Options: LayerOptions {
    public var experts = 8
    /// Every expert's hidden width (nil: 4 × the model width, the dense layer it replaces).
    public var hidden: Int?
    public var hiddenWidths: [Int]?
    public var activation = ExpertActivation.relu
    /// Slots per expert ÷ (tokens ÷ experts); nil: dropless.
    public var capacityFactor: Double? = 1.25
    public var minimumCapacity = 4
    public var loadBalanceWeight: Float = 0.01
    public var zLossWeight: Float = 0
    public var jitter: Float = 0
    /// `.parallel` (the grouped dispatch) or `.reference` (the loop over tokens and experts).
    public var form = Form.parallel
    public init() {}
  }

  public static let kind = "moe-switch"
  public static let slot = LayerSlot.channel
  public static let capabilities: LayerCapabilities = [.causal, .bidirectional, .auxiliaryLoss, .dataDependentCost]
  public static let summary = "Switch Transformer: top-1 mixture of experts with capacity (Fedus et al., 2022)"
  public static let forms = dispatchForms
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    formProblems(options.form, dispatchForms)
      + expertProblems(experts: options.experts, hidden: options.hidden, hiddenWidths: options.hiddenWidths)
      + ((options.capacityFactor ?? 1) > 0 ? [] : [OptionProblem("capacityFactor", "must be positive")])
      + minimumProblem("minimumCapacity", options.minimumCapacity, 0)
      + weightProblems([
        "loadBalanceWeight": options.loadBalanceWeight, "zLossWeight": options.zLossWeight,
        "jitter": options.jitter,
      ])
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      width: width,
      hiddenWidths: options.hiddenWidths ?? Array(repeating: options.hidden ?? 4 * width, count: options.experts),
      activation: options.activation, sharedHidden: nil, biasUpdateRate: 0, jitter: options.jitter,
      form: options.form, generator: &generator)
  }

  func capacity(groupLength: Int) -> Int? {
    options.capacityFactor.map {
      switchCapacity(tokens: groupLength, experts: expertCount, factor: $0, minimum: options.minimumCapacity)
    }
  }

  override func route(_ logits: Tensor, groups: Int) -> RouterDecision {
    switchRouting(logits: logits, capacity: capacity(groupLength: logits.shape[0] / groups), groups: groups)
  }

  override func addLosses(_ decision: RouterDecision, logits: Tensor, groups: Int, _ context: inout ForwardContext) {
    addBalanceLosses(
      decision, logits: logits, loadBalanceWeight: options.loadBalanceWeight, zLossWeight: options.zLossWeight,
      &context)
  }

  override func expectedLoad(rows: Int, groups: Int) -> [Int] {
    evenLoad(
      rows: rows, experts: expertCount, perToken: 1, capacityPerGroup: capacity(groupLength: rows / groups),
      groups: groups)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
