import TesseraCore
import TesseraNN

/// DeepSeekMoE (Dai et al., 2024, "DeepSeekMoE: Towards Ultimate Expert Specialization in
/// Mixture-of-Experts Language Models") with DeepSeek-V3's gate and balancing, in a block's
/// channel slot: `sharedExperts` experts fused into one SwiGLU that sees every token, plus many
/// fine-grained routed experts chosen by
/// ``deepSeekRouting(logits:topK:groups:topGroups:routeScale:selectionBias:)`` (sigmoid
/// affinities, group-limited selection, gates normalised over the chosen, × `routeScale`).
/// Balance: auxiliary-loss-free (a selection-only bias moved by `biasUpdateRate` after each step;
/// Wang et al., 2024) and the complementary sequence-wise balance loss (weight
/// `sequenceBalanceWeight`, the report's α). `[B, T, D] → [B, T, D]`. Kind `moe-deepseek`.
public final class DeepSeekMoELayer: MixtureOfExpertsLayer, LayerFamily {
  public struct Options: LayerOptions {
    /// Routed experts.
    public var experts = 16
    /// Shared experts (run as one SwiGLU of `sharedExperts × hidden`).
    public var sharedExperts = 2
    public var topK = 3
    /// Expert groups for group-limited routing (1: no limit).
    public var groups = 4
    /// Groups a token's experts may come from.
    public var topGroups = 2
    public var routeScale: Float = 2.5
    /// Every routed expert's hidden width (nil: the model width — fine-grained experts).
    public var hidden: Int?
    public var hiddenWidths: [Int]?
    public var activation = ExpertActivation.swiglu
    /// Auxiliary-loss-free balancing's bias update speed γ (the report's 0.001); 0: off.
    public var biasUpdateRate: Float = 0.001
    /// Weight α of the sequence-wise balance loss (the report's 0.0001); 0: off.
    public var sequenceBalanceWeight: Float = 0.0001
    /// `.parallel` (the grouped dispatch) or `.reference` (the loop over tokens and experts).
    public var form = Form.parallel
    public init() {}
  }

  public static let kind = "moe-deepseek"
  public static let slot = LayerSlot.channel
  public static let capabilities: LayerCapabilities = [.causal, .bidirectional, .auxiliaryLoss, .dataDependentCost]
  public static let summary =
    "DeepSeekMoE: shared + fine-grained routed experts, V3's sigmoid gate and loss-free balancing (Dai et al., 2024)"
  public static let forms = dispatchForms
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    var problems = formProblems(options.form, dispatchForms)
    problems += expertProblems(experts: options.experts, hidden: options.hidden, hiddenWidths: options.hiddenWidths)
    problems += minimumProblem("sharedExperts", options.sharedExperts, 0) + minimumProblem("groups", options.groups, 1)
    if options.groups >= 1 && options.experts % options.groups != 0 {
      problems.append(OptionProblem("groups", "\(options.experts) experts do not split into \(options.groups) groups"))
    }
    if options.topGroups < 1 || options.topGroups > options.groups {
      problems.append(
        OptionProblem("topGroups", "must be between 1 and the \(options.groups) groups, got \(options.topGroups)"))
    }
    let reachable = options.groups >= 1 ? options.topGroups * (options.experts / options.groups) : 0
    if options.topK < 1 || options.topK > reachable {
      problems.append(
        OptionProblem(
          "topK", "must be between 1 and the \(reachable) experts of \(options.topGroups) groups, got \(options.topK)"))
    }
    return problems
      + weightProblems([
        "routeScale": options.routeScale, "biasUpdateRate": options.biasUpdateRate,
        "sequenceBalanceWeight": options.sequenceBalanceWeight,
      ])
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    let hidden = options.hidden ?? width
    super.init(
      width: width, hiddenWidths: options.hiddenWidths ?? Array(repeating: hidden, count: options.experts),
      activation: options.activation, sharedHidden: options.sharedExperts > 0 ? options.sharedExperts * hidden : nil,
      biasUpdateRate: options.biasUpdateRate, jitter: 0, form: options.form, generator: &generator)
  }

  override func route(_ logits: Tensor, groups: Int) -> RouterDecision {
    deepSeekRouting(
      logits: logits, topK: options.topK, groups: options.groups, topGroups: options.topGroups,
      routeScale: options.routeScale, selectionBias: selectionBias)
  }

  override func addLosses(_ decision: RouterDecision, logits: Tensor, groups: Int, _ context: inout ForwardContext) {
    guard options.sequenceBalanceWeight != 0 else { return }
    let (tokens, experts) = (logits.shape[0], logits.shape[1])
    let length = tokens / groups
    // Each sequence's top-k of the unbiased affinities over all experts (eq. 18).
    let top = withoutGradients { topColumns(decision.scores, options.topK) }
    let counts = (0..<groups).map { g in
      expertCounts(Array(top[(g * length * options.topK)..<((g + 1) * length * options.topK)]), experts: experts)
    }
    let loss = sequenceBalanceLoss(
      scores: decision.scores.reshaped([groups, length, experts]), counts: counts, topK: options.topK)
    context.addLoss("sequence_balance", loss, weight: options.sequenceBalanceWeight)
  }

  override func expectedLoad(rows: Int, groups: Int) -> [Int] {
    evenLoad(rows: rows, experts: expertCount, perToken: options.topK)
  }

  override func scoringFlops(rows: Int) -> Int { rows * expertCount * FlopCount.sigmoid }
  override var gateFlopsPerSlot: Int { 3 * FlopCount.arithmetic }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
