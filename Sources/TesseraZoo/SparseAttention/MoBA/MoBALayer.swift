import TesseraCore
import TesseraNN

/// MoBA as a causal mixer (Lu et al., 2025): keys in blocks of `block`, each query attends its
/// own block and the `topK − 1` past blocks its gate ranks highest
/// (``mixtureOfBlockAttention(_:_:_:block:topK:scale:form:)``). `[B, T, D] → [B, T, D]`;
/// decoding from a key/value cache gates over the cache's blocks as the parallel form does.
/// Kind `moba`.
public final class MoBALayer: DynamicPatternAttentionLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var block = 64
    /// Blocks per query, its own included.
    public var topK = 3
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 64, keyBlock: 64)
    public init() {}
  }

  public static let kind = "moba"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding, .dataDependentCost]
  public static let forms = mobaForms
  public static let summary =
    "MoBA: mixture of block attention, top-k blocks by a parameter-free gate (Lu et al., 2025)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("block", options.block, 1) + minimumProblem("topK", options.topK, 1)
      + attentionProblems(
        heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width, forms: mobaForms)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads, mask: .causal,
      form: options.form, rotary: options.rotary, generator: &generator)
  }

  override func select(_ q: Tensor, _ k: Tensor, _ v: Tensor, form: Form) -> SparseAttentionOutput {
    mixtureOfBlockAttentionWithSelection(q, k, v, block: options.block, topK: options.topK, form: form)
  }

  override func selectedKeys(_ selection: KeySelection, _ b: Int, _ h: Int, _ t: Int, keyTime: Int) -> Int {
    let limit = t + keyTime - selection.time + 1
    return selection.chosen(b, h, t).reduce(0) {
      $0 + max(0, min(limit, ($1 + 1) * options.block) - $1 * options.block)
    }
  }

  /// Block means of the keys (a sum per key, a scale per block) and every query's gate against
  /// every block (`2D` each).
  override func selectionFlops(batch: Int, time: Int, keyTime: Int) -> Int {
    let blocks = (keyTime + options.block - 1) / options.block
    return batch * keyValueHeads * headDimension * (keyTime + blocks) * FlopCount.arithmetic
      + batch * queryHeads * time * blocks * 2 * headDimension
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
