import Foundation
import TesseraCore
import TesseraNN

/// Multi-head softmax attention as a token mixer: `[B, T, D] → [B, T, D]`.
///
/// `q_proj`, `k_proj`, `v_proj` map the model width `D` to `queryHeads × headDimension` and
/// `keyValueHeads × headDimension`; `o_proj` maps back. `keyValueHeads` = `queryHeads` is MHA,
/// fewer is GQA (Ainslie et al., 2023), 1 is MQA (Shazeer, 2019). Optional rotary position
/// embedding on queries and keys (Su et al., 2021). Decoding one token at a time reads and
/// extends a key/value cache (``step(_:_:)``), reproducing the parallel form's outputs.
public class MultiHeadAttention: Module {
  public let qProj: Linear
  public let kProj: Linear
  public let vProj: Linear
  public let oProj: Linear
  public let queryHeads: Int
  public let keyValueHeads: Int
  public let headDimension: Int
  /// The mask of the causal direction (a bidirectional model attends to every key).
  public let mask: AttentionMask
  /// `.reference` (``naiveAttention``) or `.tiled(queryBlock:keyBlock:)` (``tiledAttention``).
  public var form: Form
  public let rotary: RotaryEmbedding?

  public init(
    modelDimension: Int, queryHeads: Int, keyValueHeads: Int? = nil, mask: AttentionMask = .causal,
    form: Form = .tiled(queryBlock: 128, keyBlock: 128), rotary: Bool = true, generator: inout RandomGenerator
  ) {
    let kvHeads = keyValueHeads ?? queryHeads
    check(
      modelDimension % queryHeads == 0,
      "MultiHeadAttention: model dimension \(modelDimension) is not a multiple of \(queryHeads) heads")
    check(
      queryHeads % kvHeads == 0,
      "MultiHeadAttention: \(queryHeads) query heads are not a multiple of \(kvHeads) kv heads")
    let d = modelDimension / queryHeads
    self.queryHeads = queryHeads
    self.keyValueHeads = kvHeads
    self.headDimension = d
    self.mask = mask
    self.form = form
    self.rotary = rotary ? RotaryEmbedding(dimension: d) : nil
    qProj = Linear(modelDimension, queryHeads * d, bias: false, generator: &generator)
    kProj = Linear(modelDimension, kvHeads * d, bias: false, generator: &generator)
    vProj = Linear(modelDimension, kvHeads * d, bias: false, generator: &generator)
    oProj = Linear(queryHeads * d, modelDimension, bias: false, generator: &generator)
  }

  /// Projections into `[B, T, H, D]` heads, with rotary embedding from position `offset`.
  func heads(_ x: Tensor, offset: Int) -> (q: Tensor, k: Tensor, v: Tensor) {
    let (b, t) = (x.shape[0], x.shape[1])
    var q = qProj(x).reshaped(b, t, queryHeads, headDimension)
    var k = kProj(x).reshaped(b, t, keyValueHeads, headDimension)
    let v = vProj(x).reshaped(b, t, keyValueHeads, headDimension)
    if let rotary {
      q = rotary(q, offset: offset)
      k = rotary(k, offset: offset)
    }
    return (q, k, v)
  }

  /// The layer's forward pass with `mask`: `[B, T, D] → [B, T, D]`.
  public func callAsFunction(_ x: Tensor, mask: AttentionMask) -> Tensor { forward(x, mask: mask).output }

  /// The forward pass and the fraction of the causally visible (query, key) pairs attended, when
  /// the core reports it.
  func forward(_ x: Tensor, mask: AttentionMask) -> (output: Tensor, attendedFraction: Double?) {
    let (b, t) = (x.shape[0], x.shape[1])
    let (q, k, v) = heads(x, offset: 0)
    let core = attend(q, k, v, mask: mask, form: form)
    return (oProj(core.output.reshaped(b, t, queryHeads * headDimension)), core.attendedFraction)
  }

  /// The attention core on projected heads: q `[B, T, HQ, D]`, k and v `[B, S, H, D]` (`S > T`
  /// when decoding from a cache) → `[B, T, HQ, D]`, in `form`. A sparse family overrides it with
  /// its own pattern and reports the fraction of causally visible keys it attended.
  func attend(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, form: Form)
    -> (output: Tensor, attendedFraction: Double?)
  {
    (attention(q, k, v, mask: mask, form: form), nil)
  }

  /// The layer's forward pass in `direction`.
  public func callAsFunction(_ x: Tensor, direction: Direction) -> Tensor {
    self(x, mask: direction == .causal ? mask : .none)
  }

  /// Keys and values `[B, S, H, D]` of the tokens a later query can still see: every token seen so
  /// far, or under a sliding window of `w` only the last `w − 1` (older keys are dropped, so the
  /// cache stops growing).
  public struct KeyValueCache {
    public var keys: Tensor?
    public var values: Tensor?
    /// Tokens decoded so far: the next token's position (rotary embedding).
    public var position = 0
    /// Tokens whose keys are held.
    public var length: Int { keys?.shape[1] ?? 0 }

    /// Appends one step's keys and values `[B, 1, H, D]`; returns what the step attends over.
    mutating func append(_ k: Tensor, _ v: Tensor) -> (keys: Tensor, values: Tensor) {
      let all = (keys.map { concatenate([$0, k], axis: 1) } ?? k, values.map { concatenate([$0, v], axis: 1) } ?? v)
      keys = all.0
      values = all.1
      position += 1
      return all
    }

    /// Drops keys no later query can see: the next query's window of `window` tokens holds itself
    /// and the last `window − 1`.
    mutating func keepLast(_ window: Int) {
      guard let held = keys, let heldValues = values, held.shape[1] > window - 1 else { return }
      let kept = (held.shape[1] - (window - 1))..<held.shape[1]
      keys = held.slice(axis: 1, kept).contiguous()
      values = heldValues.slice(axis: 1, kept).contiguous()
    }
  }

  public func initialState(batch: Int) -> KeyValueCache { KeyValueCache() }

  /// Keys a decoding step keeps after `time` tokens: all of them, or under a sliding window of `w`
  /// the last `w − 1`.
  func cachedTokens(afterTokens time: Int, mask: AttentionMask) -> Int {
    if case .slidingWindow(let w) = mask { return min(time, w - 1) }
    return time
  }

  /// Decodes one token `[B, D]`: appends its key and value to the cache and attends over it.
  public func step(_ x: Tensor, _ cache: inout KeyValueCache) -> Tensor {
    let b = x.shape[0]
    let (q, k, v) = heads(x.reshaped(b, 1, x.shape[1]), offset: cache.position)
    let (keys, values) = cache.append(k, v)
    let out = attend(q, keys, values, mask: mask, form: .reference).output  // one query row: nothing to tile
    if case .slidingWindow(let w) = mask { cache.keepLast(w) }
    return oProj(out.reshaped(b, queryHeads * headDimension))
  }

  /// Counted FLOPs of the attention core over `batch` sequences of `time` tokens under `mask`. A
  /// family whose pattern depends on the data counts the decisions it took.
  func coreFlops(batch: Int, time: Int, mask: AttentionMask) -> Int {
    batch * queryHeads
      * attentionCoreFlops(time: time, dimension: headDimension, mask: mask, form: form, positionBias: false)
  }

  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let mask = context.direction == .causal ? self.mask : .none
    let rows = batch * time
    let projections =
      qProj.flops(rows: rows) + kProj.flops(rows: rows) + vProj.flops(rows: rows) + oProj.flops(rows: rows)
    // Rotary embedding of queries and keys: four products and two sums per pair of channels.
    let rotation = rotary == nil ? 0 : 3 * FlopCount.arithmetic * rows * (queryHeads + keyValueHeads) * headDimension
    let attention = coreFlops(batch: batch, time: time, mask: mask)
    let saved: Int
    switch form {
    case .tiled: saved = batch * queryHeads * time  // the row log-sum-exp
    default: saved = batch * queryHeads * time * time  // the probabilities
    }
    let activations = 4 * (saved + batch * time * (2 * queryHeads + 2 * keyValueHeads) * headDimension)
    return LayerCost(
      flops: projections + rotation + attention, activationBytes: activations,
      stateBytes: 4 * 2 * batch * cachedTokens(afterTokens: time, mask: mask) * keyValueHeads * headDimension)
  }
}

/// Causal (or, in a bidirectional model, full) multi-head softmax attention: MHA, GQA, MQA.
/// Kind `attn`.
public final class SoftmaxAttentionLayer: MultiHeadAttention, RecurrentLayer {
  public struct Options: LayerOptions {
    public var heads = 4
    /// Key/value heads (nil: as many as query heads; fewer is GQA, 1 is MQA).
    public var keyValueHeads: Int?
    /// Rotary position embedding on queries and keys (Su et al., 2021).
    public var rotary = true
    /// `.reference` or `.tiled(queryBlock:keyBlock:)`.
    public var form = Form.tiled(queryBlock: 128, keyBlock: 128)
    public init() {}
  }

  public static let kind = "attn"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .bidirectional, .recurrentDecoding]
  public static let forms = attentionForms
  public static let summary = "softmax attention, MHA/GQA/MQA, naive and FlashAttention-tiled (Vaswani et al., 2017)"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    attentionProblems(heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads, mask: .causal,
      form: options.form, rotary: options.rotary, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    self(x, direction: context.direction)
  }
}

/// Causal softmax attention over the last `window` tokens (the query included; Longformer's
/// local attention, Beltagy et al., 2020). Kind `swa`; the pattern `swa:64` sets the window.
public final class SlidingWindowAttentionLayer: StaticPatternAttentionLayer, RecurrentLayer {
  public struct Options: LayerOptions {
    public var window = 64
    public var heads = 4
    public var keyValueHeads: Int?
    public var rotary = true
    public var form = Form.tiled(queryBlock: 128, keyBlock: 128)
    public init() {}
  }

  public static let kind = "swa"
  public static let slot = LayerSlot.sequence
  public static let capabilities: LayerCapabilities = [.causal, .recurrentDecoding]
  public static let forms = attentionForms
  public static let summary = "sliding-window softmax attention (Beltagy et al., 2020)"
  public static let patternArgument: String? = "window"
  public let options: Options

  public static func problems(_ options: Options, width: Int) -> [OptionProblem] {
    minimumProblem("window", options.window, 1)
      + attentionProblems(heads: options.heads, keyValueHeads: options.keyValueHeads, form: options.form, width: width)
  }

  public init(_ options: Options, width: Int, generator: inout RandomGenerator) {
    self.options = options
    super.init(
      modelDimension: width, queryHeads: options.heads, keyValueHeads: options.keyValueHeads,
      mask: .slidingWindow(options.window), form: options.form, rotary: options.rotary, generator: &generator)
  }

  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor { forward(x, &context) }
}

func attentionProblems(
  heads: Int, keyValueHeads: Int?, form: Form, width: Int, forms: [Form] = attentionForms
) -> [OptionProblem] {
  var problems = headProblems(heads: heads, width: width)
  if let kv = keyValueHeads, kv < 1 || heads % kv != 0 {
    problems.append(OptionProblem("keyValueHeads", "\(heads) query heads are not a multiple of \(kv)"))
  }
  return problems + formProblems(form, forms)
}
