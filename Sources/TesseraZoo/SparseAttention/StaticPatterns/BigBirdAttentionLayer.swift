import TesseraCore
import TesseraNN

/// BigBird's attention pattern in a decoder (Zaheer et al., "Big Bird: Transformers for Longer
/// Sequences", 2020): over blocks of `block` tokens, each query block sees its `windowBlocks`
/// nearest blocks (itself and the ones before it), the `globalBlocks` first blocks, and
/// `randomBlocks` random earlier blocks drawn from `seed` (``BigBirdPattern``); causal within.
/// `[B, T, D] → [B, T, D]`, block-sparse tiled by default. Kind `bigbird`.
public final class BigBirdAttentionLayer: StaticPatternAttentionLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var block = 64
    /// Local blocks: the query's own and the `windowBlocks − 1` before it (the paper's window of
    /// three blocks, one on each side, seen causally).
    public var windowBlocks = 2
    public var globalBlocks = 2
    public var randomBlocks = 3
    /// Seed of the random blocks.
    public var seed: UInt64 = 0
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 64, keyBlock: 64)
    public init() {}
  }

  public static let kind = "bigbird"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = sparseAttentionForms
  public static let summary = "BigBird: window + global + random blocks (Zaheer et al., 2020)"
  public let options: Options

  public static func pattern(_ options: Options) -> BigBirdPattern {
    BigBirdPattern(
      block: options.block, windowBlocks: options.windowBlocks, globalBlocks: options.globalBlocks,
      randomBlocks: options.randomBlocks, seed: options.seed)
  }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("block", options.block, 1) + minimumProblem("windowBlocks", options.windowBlocks, 1)
      + minimumProblem("globalBlocks", options.globalBlocks, 0)
      + minimumProblem("randomBlocks", options.randomBlocks, 0)
      + attentionProblems(
        heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width,
        forms: sparseAttentionForms)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads,
      mask: .causal && .bigBird(Self.pattern(options)), form: options.form, rotary: options.rotary,
      generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
