import TesseraCore
import TesseraNN

/// The chunk / dechunk pair around a token-to-concept stage (``StageSpec/resample``, kind
/// `"chunk"`): ``DynamicChunking`` with learned query and key projections `[D, D]` (initialised to
/// the identity, as H-Net's routing module, so that boundaries start where neighbouring tokens'
/// representations differ). The stage's blocks run on the concepts `[B, M, D]`, M ≈ L ÷ R, and
/// ``dechunk(_:_:residual:)`` brings them back to `[B, L, D]`. The ratio loss toward `ratio` is
/// added to the forward context with `ratioLossWeight`; the concepts per sequence and the realised
/// ratio L ÷ M are recorded as statistics (`concepts`, `realised_ratio`).
///
/// Causal: p_t reads tokens t − 1 and t, and token t reads the concept its chunk began with (at a
/// position ≤ t), so a causal inner stage keeps the model causal. Huang et al., 2026 (ConceptMoE);
/// Hwang et al., 2025 (H-Net) as `rule: .hNet`.
public final class ChunkingLayer: LayerFamily {
  public struct Options: LayerOptions {
    /// Whose definition: ConceptMoE's (default) or H-Net's (see ``DynamicChunking``).
    public var rule = DynamicChunking.Rule.conceptMoE
    /// The target compression R = L ÷ M the ratio loss drives toward.
    public var ratio = 2.0
    /// The ratio loss's weight (H-Net: 0.03).
    public var ratioLossWeight = 0.03
    public init() {}
  }

  public static let kind = "chunk"
  public static let slot = LayerSlot.resample
  public static let capabilities: LayerCapabilities = [.causal, .changesLength, .auxiliaryLoss, .dataDependentCost]
  public static let summary =
    "token-to-concept chunking around a stage (ConceptMoE, Huang et al., 2026; H-Net, Hwang et al., 2025)"

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    var problems: [OptionProblem] = []
    if !(options.ratio > 1) { problems.append(OptionProblem("ratio", "must exceed 1, got \(options.ratio)")) }
    if !(options.ratioLossWeight >= 0) {
      problems.append(OptionProblem("ratioLossWeight", "must be at least 0, got \(options.ratioLossWeight)"))
    }
    return problems
  }

  public let options: Options
  public let qProj: Linear
  public let kProj: Linear
  /// Concepts per sequence of the last forward pass, with its shape: what ``cost(batch:time:context:)``
  /// counts the inner stage at.
  var lastConcepts: ConceptShape?

  /// The padded concept length of a forward pass over `batch × time` tokens.
  struct ConceptShape {
    let batch: Int
    let time: Int
    let padded: Int
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    qProj = Linear(width, width, bias: false, generator: &generator)
    kProj = Linear(width, width, bias: false, generator: &generator)
    let identity = Tensor(
      (0..<(width * width)).map { $0 / width == $0 % width ? 1 : 0 }, shape: [width, width])
    qProj.weight = identity
    kProj.weight = identity
  }

  /// Boundaries of `x` `[B, L, D]` and its concepts `[B, M, D]`; adds the ratio loss and records
  /// the statistics.
  public func chunk(_ x: Tensor, _ context: inout ForwardContext) -> (
    concepts: Tensor, boundaries: DynamicChunking.Boundaries
  ) {
    let boundaries = DynamicChunking.boundaries(queries: qProj(x), keys: kProj(x), rule: options.rule)
    if options.ratioLossWeight > 0 {
      context.addLoss(
        "chunk_ratio", DynamicChunking.ratioLoss(boundaries, ratio: options.ratio),
        weight: Float(options.ratioLossWeight))
    }
    context.record("concepts", boundaries.conceptCounts.map(Double.init))
    context.record("realised_ratio", [boundaries.realisedRatio])
    lastConcepts = ConceptShape(batch: x.shape[0], time: x.shape[1], padded: boundaries.maxConcepts)
    return (DynamicChunking.chunk(x, boundaries), boundaries)
  }

  /// The inner stage's output on the concepts `[B, M, D]` back at token resolution `[B, L, D]`.
  public func dechunk(_ concepts: Tensor, _ boundaries: DynamicChunking.Boundaries, residual x: Tensor) -> Tensor {
    DynamicChunking.dechunk(concepts, boundaries, residual: x)
  }

  /// Chunk and dechunk with nothing between (the stage's blocks are the model's to run).
  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let (concepts, boundaries) = chunk(x, &context)
    return dechunk(concepts, boundaries, residual: x)
  }

  /// The padded concept length M the inner stage runs at for `batch × time` tokens: the last
  /// forward pass's when it had this shape, else ⌈time ÷ ratio⌉ (the target).
  public func conceptLength(batch: Int, time: Int) -> Int {
    if let last = lastConcepts, last.batch == batch, last.time == time { return last.padded }
    return Int((Double(time) / options.ratio).rounded(.up))
  }

  /// The chunk and dechunk modules' own work (the inner stage's is counted by its blocks):
  /// projections, unit lengths and cosines, p and s, the gathers are free; the EMA over the
  /// concepts (3 per element), the spread times STE(s) and the residual sum (2 per element).
  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, width = qProj.inputCount
    let concepts = batch * conceptLength(batch: batch, time: time)
    let projections = qProj.flops(rows: rows) + kProj.flops(rows: rows)
    let cosines = 2 * FlopCount.unitLength(rows: rows, width: width) + rows * (2 * width + 3)
    let flops = projections + cosines + 3 * concepts * width + 2 * rows * width
    // Decoding holds the previous token's key (or query) and the smoothed concept per sequence.
    return LayerCost(
      flops: flops, activationBytes: 4 * (2 * rows * width + 2 * rows + concepts * width),
      stateBytes: 4 * batch * 2 * width, parameters: parameterCount, activeParameters: parameterCount)
  }
}
