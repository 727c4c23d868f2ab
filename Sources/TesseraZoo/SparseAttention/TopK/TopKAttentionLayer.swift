import TesseraCore
import TesseraNN

/// Exact top-k attention as a causal mixer: each query attends its `topK` highest-scoring keys
/// (``topKAttention(_:_:_:topK:scale:form:)``). `[B, T, D] → [B, T, D]`; decoding from a
/// key/value cache selects over the cache exactly as the parallel form does. Kind `topk-attn`.
public final class TopKAttentionLayer: DynamicPatternAttentionLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var topK = 64
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 64, keyBlock: 64)
    public init() {}
  }

  public static let kind = "topk-attn"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding, .dataDependentCost]
  public static let forms = topKAttentionForms
  public static let summary = "exact top-k attention per query (Gupta et al., 2021)"
  public static let patternArgument: String? = "topK"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("topK", options.topK, 1)
      + attentionProblems(
        heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width,
        forms: topKAttentionForms)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads, mask: .causal,
      form: options.form, rotary: options.rotary, generator: &generator)
  }

  override func select(_ q: Tensor, _ k: Tensor, _ v: Tensor, form: Form) -> SparseAttentionOutput {
    topKAttentionWithSelection(q, k, v, topK: options.topK, form: form)
  }

  /// Every causal score (`2D` and a comparison each; the tiled form's query blocks see whole
  /// prefixes of the keys).
  override func selectionFlops(batch: Int, time: Int, keyTime: Int) -> Int {
    let queryBlock: Int
    if case .tiled(let q, _) = form { queryBlock = q } else { queryBlock = 1 }
    var scores = 0
    var r0 = 0
    while r0 < time {
      let rows = min(queryBlock, time - r0)
      scores += rows * min(keyTime, r0 + rows + keyTime - time)
      r0 += rows
    }
    return batch * queryHeads * scores * (2 * headDimension + FlopCount.arithmetic)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
