import TesseraCore
import TesseraNN

/// Longformer's attention pattern in a decoder (Beltagy et al., "Longformer: The Long-Document
/// Transformer", 2020): each query sees a window of `window` keys up to itself — every
/// `dilation`-th key when dilated — and the global tokens `globalTokens` see, and are seen by,
/// every position (causally). `[B, T, D] → [B, T, D]`, block-sparse tiled by default. Kind
/// `longformer`; the pattern `longformer:128` sets the window.
public final class LongformerAttentionLayer: StaticPatternAttentionLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var window = 256
    public var dilation = 1
    /// Positions of the global tokens.
    public var globalTokens: [Int] = [0]
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 64, keyBlock: 64)
    public init() {}
  }

  public static let kind = "longformer"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = sparseAttentionForms
  public static let summary = "Longformer: sliding (dilated) window + global tokens (Beltagy et al., 2020)"
  public static let patternArgument: String? = "window"
  public let options: Options

  /// The pattern: causal, and a (dilated) window or a global token.
  public static func mask(_ options: Options) -> AttentionMask {
    let window: AttentionMask =
      options.dilation == 1
      ? .slidingWindow(options.window) : .dilatedWindow(window: options.window, dilation: options.dilation)
    return options.globalTokens.isEmpty ? window : .causal && (window || .global(options.globalTokens))
  }

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("window", options.window, 1) + minimumProblem("dilation", options.dilation, 1)
      + options.globalTokens.filter { $0 < 0 }.map { OptionProblem("globalTokens", "negative position \($0)") }
      + attentionProblems(
        heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width,
        forms: sparseAttentionForms)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads,
      mask: Self.mask(options), form: options.form, rotary: options.rotary, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}
