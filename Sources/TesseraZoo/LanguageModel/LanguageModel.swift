import TesseraCore
import TesseraNN

/// Builds the mixer named in a layer pattern. Families register their names in
/// ``LanguageModel/mixerFactories``.
public typealias MixerFactory = (_ name: String, _ config: LanguageModelConfig, _ generator: inout RandomGenerator) ->
  (any TokenMixer)?

/// Layer norm or RMS norm over the last axis, chosen by name (`"layernorm"`, `"rmsnorm"`).
public final class Norm: Module {
  @Parameter public var weight: Tensor
  @OptionalParameter public var bias: Tensor?

  public init(_ kind: String, _ dimension: Int) {
    weight = Tensor.ones([dimension])
    bias = kind == "rmsnorm" ? nil : Tensor.zeros([dimension])
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    if let bias { return layerNorm(x, weight: weight, bias: bias) }
    return rmsNorm(x, weight: weight)
  }
}

/// One pre-norm residual block: `x + mixer(norm1(x))`, then `x + ffn(norm2(x))`.
public final class Block: Module {
  public let norm1: Norm
  public let mixer: any TokenMixer
  public let norm2: Norm?
  public let ffn: Module?
  let feedForward: ((Tensor) -> Tensor)?

  init(mixer: any TokenMixer, config: LanguageModelConfig, generator: inout RandomGenerator) {
    let d = config.modelDimension
    norm1 = Norm(config.normalization, d)
    self.mixer = mixer
    let hidden = config.feedForwardDimension ?? 4 * d
    if hidden > 0 {
      norm2 = Norm(config.normalization, d)
      if config.feedForward == "swiglu" {
        let f = SwiGLU(d, hidden: hidden, generator: &generator)
        ffn = f
        feedForward = { f($0) }
      } else {
        let f = MLP(d, hidden: hidden, generator: &generator)
        ffn = f
        feedForward = { f($0) }
      }
    } else {
      norm2 = nil
      ffn = nil
      feedForward = nil
    }
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    var h = x + mixer(norm1(x))
    if let norm2, let feedForward { h = h + feedForward(norm2(h)) }
    return h
  }

  func step(_ x: Tensor, _ state: inout Any?) -> Tensor {
    var h = x + stepMixer(mixer, norm1(x), &state)
    if let norm2, let feedForward { h = h + feedForward(norm2(h)) }
    return h
  }
}

/// Runs one decoding step of a mixer that has a recurrent form.
func stepMixer(_ mixer: any TokenMixer, _ x: Tensor, _ state: inout Any?) -> Tensor {
  guard let recurrent = mixer as? any RecurrentMixer else {
    checkFailed("\(type(of: mixer)) has no recurrent form; decode with the parallel form instead")
  }
  return stepOpened(recurrent, x, &state)
}

func stepOpened<M: RecurrentMixer>(_ mixer: M, _ x: Tensor, _ state: inout Any?) -> Tensor {
  var s = (state as? M.State) ?? mixer.initialState(batch: x.shape[0])
  let y = mixer.step(x, &s)
  state = s
  return y
}

/// A decoder-only language model made from a layer pattern: token embedding, blocks (each a
/// mixer and a feed-forward layer, pre-norm, residual), final norm, output head (tied to the
/// embedding by default). Tokens `[B, T]` → logits `[B, T, vocabulary]`.
public final class LanguageModel: Module {
  public let config: LanguageModelConfig
  public let embedding: Embedding
  public let layers: [Block]
  public let norm: Norm
  public let head: Linear?

  /// Mixer constructors by layer-pattern name; a family adds its own.
  nonisolated(unsafe) public static var mixerFactories: [MixerFactory] = [
    attentionFactory, linearAttentionFactory, stateSpaceFactory, deltaRuleFactory, stateSpaceDualityFactory,
    forgettingAttentionFactory, diagonalStateSpaceFactory, testTimeTrainingFactory,
  ]

  static let attentionFactory: MixerFactory = { name, config, generator in
    var mask: AttentionMask
    if name == "attn" {
      mask = .causal
    } else if name.hasPrefix("swa:"), let w = Int(name.dropFirst(4)) {
      mask = .slidingWindow(w)
    } else {
      return nil
    }
    return MultiHeadAttention(
      modelDimension: config.modelDimension, queryHeads: config.heads, keyValueHeads: config.keyValueHeads, mask: mask,
      implementation: config.attention, rotary: config.rotary, generator: &generator)
  }

  public init(_ config: LanguageModelConfig, generator: inout RandomGenerator) {
    self.config = config
    embedding = Embedding(config.vocabularySize, config.modelDimension, generator: &generator)
    var blocks: [Block] = []
    for name in config.layers {
      var made: (any TokenMixer)?
      for factory in Self.mixerFactories {
        made = factory(name, config, &generator)
        if made != nil { break }
      }
      guard let mixer = made else {
        checkFailed(
          "LanguageModel: no mixer is registered under \"\(name)\" (layer pattern \"\(config.layerPattern)\")")
      }
      blocks.append(Block(mixer: mixer, config: config, generator: &generator))
    }
    layers = blocks
    norm = Norm(config.normalization, config.modelDimension)
    head =
      config.tiedEmbeddings
      ? nil : Linear(config.modelDimension, config.vocabularySize, bias: false, generator: &generator)
  }

  func logits(_ hidden: Tensor) -> Tensor {
    let h = norm(hidden)
    if let head { return head(h) }
    return matmul(h, embedding.weight.transposed())
  }

  /// Logits `[B, T, vocabulary]` for tokens `[B, T]`.
  public func callAsFunction(_ tokens: IndexTensor) -> Tensor {
    var x = embedding(tokens)
    for block in layers { x = block(x) }
    return logits(x)
  }

  /// Per-layer decoding state (KV caches, recurrent states).
  public struct DecodingState {
    var layers: [Any?]
  }

  public func initialDecodingState() -> DecodingState {
    DecodingState(layers: Array(repeating: nil, count: layers.count))
  }

  /// Logits `[B, vocabulary]` for the next token after `tokens` `[B]`, extending `state`.
  public func step(_ tokens: IndexTensor, _ state: inout DecodingState) -> Tensor {
    var x = embedding(tokens)  // [B, D]
    for (i, block) in layers.enumerated() { x = block.step(x, &state.layers[i]) }
    return logits(x)
  }

  /// Mean cross-entropy of next-token predictions where `targets` is not `ignoreIndex`.
  public func loss(_ tokens: IndexTensor, targets: IndexTensor, ignoreIndex: Int = -100) -> Tensor {
    crossEntropy(self(tokens), targets: targets, ignoreIndex: ignoreIndex)
  }
}
