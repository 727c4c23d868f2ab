import TesseraCore
import TesseraNN

/// Expert-choice mixture of experts (Zhou et al., 2022) in a block's channel slot: per sequence,
/// every expert takes its `round(T · capacityFactor ÷ E)` best tokens
/// (``expertChoiceRouting(logits:capacity:groups:)``) — balanced by construction, a token gets a
/// variable number of experts (possibly none: its residual carries it). Bidirectional only: an
/// expert ranks the whole sequence, so a token's output depends on later tokens, and a causal
/// model refuses the layer when it is built. Loss: the router z-loss (`zLossWeight`).
/// `[B, T, D] → [B, T, D]`. Kind `moe-expert-choice`.
public final class ExpertChoiceLayer: MixtureOfExpertsLayer, LayerFamily {
  public struct Options: LayerOptions {
    public var experts = 8
    /// Every expert's hidden width (nil: 4 × the model width ÷ capacityFactor, so the active
    /// FLOPs per token match the dense layer's).
    public var hidden: Int?
    public var hiddenWidths: [Int]?
    public var activation = ExpertActivation.swiglu
    /// Experts per token on average (the paper's c; EC-CF2 is 2).
    public var capacityFactor: Double = 2
    /// Weight of the router z-loss (ST-MoE's 0.001).
    public var zLossWeight: Float = 0.001
    /// `.parallel` (the grouped dispatch) or `.reference` (the loop over tokens and experts).
    public var form = Form.parallel
    public init() {}
  }

  public static let kind = "moe-expert-choice"
  public static let slot = LayerSlot.channel
  public static let capabilities: LayerCapabilities = [.bidirectional, .auxiliaryLoss, .dataDependentCost]
  public static let notCausalBecause: String? =
    "each expert picks its top tokens across the whole sequence, so a token's output depends on later tokens"
  public static let summary = "mixture of experts, expert-choice routing (Zhou et al., 2022)"
  public static let forms = dispatchForms
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    formProblems(options.form, dispatchForms)
      + expertProblems(experts: options.experts, hidden: options.hidden, hiddenWidths: options.hiddenWidths)
      + (options.capacityFactor > 0 && options.capacityFactor.isFinite
        ? [] : [OptionProblem("capacityFactor", "must be a positive number, got \(options.capacityFactor)")])
      + weightProblems(["zLossWeight": options.zLossWeight])
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    let hidden = options.hidden ?? Swift.max(1, Int((Double(4 * width) / options.capacityFactor).rounded()))
    super.init(
      width: width, hiddenWidths: options.hiddenWidths ?? Array(repeating: hidden, count: options.experts),
      activation: options.activation, sharedHidden: nil, biasUpdateRate: 0, jitter: 0, form: options.form,
      generator: &generator)
  }

  func capacity(groupLength: Int) -> Int {
    expertChoiceCapacity(tokens: groupLength, experts: expertCount, factor: options.capacityFactor)
  }

  override func route(_ logits: Tensor, groups: Int) -> RouterDecision {
    expertChoiceRouting(logits: logits, capacity: capacity(groupLength: logits.shape[0] / groups), groups: groups)
  }

  override func addLosses(_ decision: RouterDecision, logits: Tensor, groups: Int, _ context: inout ForwardContext) {
    addBalanceLosses(decision, logits: logits, loadBalanceWeight: 0, zLossWeight: options.zLossWeight, &context)
  }

  override func expectedLoad(rows: Int, groups: Int) -> [Int] {
    [Int](repeating: capacity(groupLength: rows / groups) * groups, count: expertCount)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
