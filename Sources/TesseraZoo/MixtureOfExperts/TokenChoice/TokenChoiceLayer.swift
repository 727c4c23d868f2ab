import TesseraCore
import TesseraNN

/// Token-choice top-k mixture of experts (Shazeer et al., 2017; Mixtral, Jiang et al., 2024) in
/// a block's channel slot: each token runs its `topK` experts, weighted by the router's gates
/// (``tokenChoiceRouting(logits:topK:gate:renormalize:selectionBias:)``); dropless. Losses: the
/// HF/Switch load-balancing loss (`loadBalanceWeight`), the router z-loss (`zLossWeight`); or
/// auxiliary-loss-free balancing (`biasUpdateRate` > 0). `[B, T, D] → [B, T, D]`. Kind `moe-topk`.
public final class TokenChoiceLayer: MixtureOfExpertsLayer, LayerFamily {
  public struct Options: LayerOptions {
    public var experts = 8
    public var topK = 2
    /// Every expert's hidden width (nil: 4 × the model width ÷ topK, the dense layer's active FLOPs).
    public var hidden: Int?
    /// One hidden width per expert, overriding `hidden` (experts of different sizes).
    public var hiddenWidths: [Int]?
    public var activation = ExpertActivation.swiglu
    public var gate = TokenChoiceGate.softmaxTopK
    /// Divide the k selected scores by their sum (Mixtral's `norm_topk_prob`).
    public var renormalize = true
    /// Weight of the load-balancing loss (Switch's α = 0.01).
    public var loadBalanceWeight: Float = 0.01
    /// Weight of the router z-loss (ST-MoE uses 0.001).
    public var zLossWeight: Float = 0
    /// Auxiliary-loss-free balancing's bias update rate u (Wang et al. use 0.001); 0: off.
    public var biasUpdateRate: Float = 0
    /// Slots per expert ÷ its share of the k·T pairs of a sequence, `⌊capacityFactor · k · T ÷ E⌋`
    /// (at least `minimumCapacity`); nil: dropless.
    public var capacityFactor: Double?
    public var minimumCapacity = 4
    /// Multiplicative uniform noise `1 ± jitter` on the router's input in training.
    public var jitter: Float = 0
    /// `.parallel` (the grouped dispatch) or `.reference` (the loop over tokens and experts).
    public var form = Form.parallel
    public init() {}
  }

  public static let kind = "moe-topk"
  public static let slot = LayerSlot.channel
  public static let capabilities: LayerCapabilities = [.causal, .bidirectional, .auxiliaryLoss, .dataDependentCost]
  public static let summary = "mixture of experts, token-choice top-k routing (Shazeer et al., 2017; Mixtral, 2024)"
  public static let forms = dispatchForms
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    formProblems(options.form, dispatchForms)
      + expertProblems(experts: options.experts, hidden: options.hidden, hiddenWidths: options.hiddenWidths)
      + ((options.capacityFactor ?? 1) > 0 ? [] : [OptionProblem("capacityFactor", "must be positive")])
      + minimumProblem("minimumCapacity", options.minimumCapacity, 0)
      + (options.topK < 1 || options.topK > options.experts
        ? [OptionProblem("topK", "must be between 1 and the \(options.experts) experts, got \(options.topK)")] : [])
      + weightProblems([
        "loadBalanceWeight": options.loadBalanceWeight, "zLossWeight": options.zLossWeight,
        "biasUpdateRate": options.biasUpdateRate, "jitter": options.jitter,
      ])
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      width: width,
      hiddenWidths: options.hiddenWidths
        ?? Array(repeating: options.hidden ?? Swift.max(1, 4 * width / options.topK), count: options.experts),
      activation: options.activation, sharedHidden: nil, biasUpdateRate: options.biasUpdateRate,
      jitter: options.jitter, form: options.form, generator: &generator)
  }

  func capacity(groupLength: Int) -> Int? {
    options.capacityFactor.map {
      switchCapacity(
        tokens: groupLength * options.topK, experts: expertCount, factor: $0, minimum: options.minimumCapacity)
    }
  }

  override func route(_ logits: Tensor, groups: Int) -> RouterDecision {
    tokenChoiceRouting(
      logits: logits, topK: options.topK, gate: options.gate, renormalize: options.renormalize,
      selectionBias: options.biasUpdateRate > 0 ? selectionBias : nil,
      capacity: capacity(groupLength: logits.shape[0] / groups), groups: groups)
  }

  override func addLosses(_ decision: RouterDecision, logits: Tensor, groups: Int, _ context: inout ForwardContext) {
    addBalanceLosses(
      decision, logits: logits, loadBalanceWeight: options.loadBalanceWeight, zLossWeight: options.zLossWeight,
      &context)
  }

  override func expectedLoad(rows: Int, groups: Int) -> [Int] {
    evenLoad(
      rows: rows, experts: expertCount, perToken: options.topK, capacityPerGroup: capacity(groupLength: rows / groups),
      groups: groups)
  }

  override func scoringFlops(rows: Int) -> Int {
    switch options.gate {
    case .softmaxTopK: return FlopCount.softmax(rows: rows, width: expertCount)
    case .topKSoftmax: return FlopCount.softmax(rows: rows, width: options.topK)
    case .sigmoidTopK: return rows * expertCount * FlopCount.sigmoid
    }
  }

  override var gateFlopsPerSlot: Int {
    options.gate == .topKSoftmax || !options.renormalize ? 0 : 2 * FlopCount.arithmetic
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}

/// Problems with a mixture's expert count and widths.
func expertProblems(experts: Int, hidden: Int?, hiddenWidths: [Int]?) -> [OptionProblem] {
  var problems = minimumProblem("experts", experts, 1) + minimumProblem("hidden", hidden ?? 1, 1)
  if let widths = hiddenWidths {
    if widths.count != experts {
      problems.append(OptionProblem("hiddenWidths", "has \(widths.count) widths for \(experts) experts"))
    }
    if let bad = widths.first(where: { $0 < 1 }) {
      problems.append(OptionProblem("hiddenWidths", "widths must be at least 1, got \(bad)"))
    }
  }
  return problems
}

/// Problems with weights and rates that must not be negative.
func weightProblems(_ values: KeyValuePairs<String, Float>) -> [OptionProblem] {
  values.compactMap { key, value in
    value < 0 || !value.isFinite ? OptionProblem(key, "must be a finite number ≥ 0, got \(value)") : nil
  }
}
