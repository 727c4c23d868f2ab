import TesseraCore
import TesseraNN

/// Layer norm or RMS norm over the last axis.
public final class Norm: Module {
  @Parameter public var weight: Tensor
  @OptionalParameter public var bias: Tensor?

  public init(_ kind: NormKind, _ dimension: Int) {
    weight = Tensor.ones([dimension])
    bias = kind == .rmsNorm ? nil : Tensor.zeros([dimension])
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    if let bias { return layerNorm(x, weight: weight, bias: bias) }
    return rmsNorm(x, weight: weight)
  }

  /// Counted FLOPs over `rows` positions (see ``LayerCost``).
  public func flops(rows: Int) -> Int {
    let width = weight.shape[0]
    return bias == nil ? FlopCount.rmsNorm(rows: rows, width: width) : FlopCount.layerNorm(rows: rows, width: width)
  }
}

/// One pre-norm residual block (``BlockSpec``): `h = x + mixer(norm1(x))`, then
/// `h + channel(norm2(h))` when the block has a channel layer. `[B, T, D] → [B, T, D]`.
public final class Block: Module {
  public let norm1: Norm
  public let mixer: any LayerFamily
  public let norm2: Norm?
  public let channel: (any LayerFamily)?

  init(mixer: any LayerFamily, channel: (any LayerFamily)?, norm: NormKind, width: Int) {
    norm1 = Norm(norm, width)
    self.mixer = mixer
    norm2 = channel == nil ? nil : Norm(norm, width)
    self.channel = channel
  }

  /// The block at `path` (`"layers.3"`): layers report under `path.mixer` and `path.channel`.
  public func callAsFunction(_ x: Tensor, _ context: inout ForwardContext, path: String) -> Tensor {
    context.layer = path + ".mixer"
    var h = x + mixer(norm1(x), &context)
    if let norm2, let channel {
      context.layer = path + ".channel"
      h = h + channel(norm2(h), &context)
    }
    return h
  }

  /// Counted cost over `batch × time` positions: the norms and residual sums around the layers,
  /// and the layers' own costs.
  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, width = norm1.weight.shape[0]
    var total = mixer.cost(batch: batch, time: time, context: context)
    total.flops += norm1.flops(rows: rows) + rows * width * FlopCount.arithmetic
    if let norm2, let channel {
      total = total + channel.cost(batch: batch, time: time, context: context)
      total.flops += norm2.flops(rows: rows) + rows * width * FlopCount.arithmetic
    }
    total.parameters = parameterCount
    total.activeParameters =
      parameterCount
      - layers.reduce(0) { idle, layer in
        idle + layer.parameterCount
          - ((layer as? any SparselyActivatedLayer)?.activeParameterCount ?? layer.parameterCount)
      }
    return total
  }

  /// The block's layers: the mixer, then the channel layer if any.
  public var layers: [any LayerFamily] { [mixer] + (channel.map { [$0] } ?? []) }

  func step(_ x: Tensor, _ decoder: any LayerDecoder) -> Tensor {
    var h = x + decoder.step(norm1(x))
    if let norm2, let channel { h = h + channel(norm2(h)) }
    return h
  }
}

/// A language model built from a ``ModelSpec``: token embedding, blocks, final norm, output head
/// (tied to the embedding by default). Tokens `[B, T]` → logits `[B, T, vocabulary]`.
///
/// Parameters are named as a PyTorch `state_dict` would name them: `embedding.weight`,
/// `layers.3.mixer.q_proj.weight`, `layers.3.channel.up.bias`, `norm.weight`.
public final class LanguageModel: Module {
  public let spec: ModelSpec
  public let embedding: Embedding
  /// Every block of every stage, in order.
  public let layers: [Block]
  public let norm: Norm
  public let head: Linear?
  /// The JSON path of each block's spec (`stages[0].blocks[1]`; repeated blocks share one).
  public let blockPaths: [String]
  /// The token-to-concept modules of the stages that resample, in stage order
  /// (``StageSpec/resample``).
  public let resamplers: [ChunkingLayer]
  /// Each stage's blocks (a range of `layers`) and its resampler (an index into `resamplers`).
  let stageLayout: [(blocks: Range<Int>, resampler: Int?)]

  /// Builds `spec` (checked first: nothing is built from a spec with a problem, and the error
  /// names its JSON path). Parameters are drawn from `generator` in order: the embedding, then per
  /// stage its resampler and per block the mixer and the channel layer, then an untied head.
  public init(_ spec: ModelSpec, generator: inout RandomGenerator, registry: FamilyRegistry = Zoo.families) throws {
    try spec.validate(registry: registry)
    self.spec = spec
    embedding = Embedding(spec.vocabulary, spec.width, generator: &generator)
    var blocks: [Block] = []
    var paths: [String] = []
    var resamplers: [ChunkingLayer] = []
    var layout: [(blocks: Range<Int>, resampler: Int?)] = []
    for (s, stage) in spec.stages.enumerated() {
      var resampler: Int?
      if let resample = stage.resample {
        let path = "stages[\(s)].resample"
        let built = try Self.build(
          .layer(kind: resample.kind, options: resample.options), path: path, width: spec.width, registry, &generator)
        guard let chunking = built as? ChunkingLayer else {
          throw ModelSpecError(
            path + ".kind", "\"\(resample.kind)\" cannot resample a stage: the resampler is \"chunk\"")
        }
        resampler = resamplers.count
        resamplers.append(chunking)
      }
      let first = blocks.count
      for (b, block) in stage.blocks.enumerated() {
        let path = "stages[\(s)].blocks[\(b)]"
        for _ in 0..<block.repeats {
          let mixer = try Self.build(block.mixer, path: path + ".mixer", width: spec.width, registry, &generator)
          let channel = try block.channel.map {
            try Self.build($0, path: path + ".channel", width: spec.width, registry, &generator)
          }
          blocks.append(Block(mixer: mixer, channel: channel, norm: block.norm, width: spec.width))
          paths.append(path)
        }
      }
      layout.append((first..<blocks.count, resampler))
    }
    layers = blocks
    blockPaths = paths
    self.resamplers = resamplers
    stageLayout = layout
    norm = Norm(spec.norm, spec.width)
    head = spec.heads[0].tied ? nil : Linear(spec.width, spec.vocabulary, bias: false, generator: &generator)
  }

  /// A model from a layer pattern (see ``ModelSpec/init(pattern:vocabulary:width:channel:norm:direction:options:tiedEmbeddings:registry:)``).
  public convenience init(
    pattern: String, vocabulary: Int, width: Int, channel: String? = "mlp", norm: NormKind = .layerNorm,
    options: [String: JSONValue] = [:], generator: inout RandomGenerator
  ) throws {
    try self.init(
      ModelSpec(
        pattern: pattern, vocabulary: vocabulary, width: width, channel: channel, norm: norm, options: options),
      generator: &generator)
  }

  static func build(
    _ spec: MixerSpec, path: String, width: Int, _ registry: FamilyRegistry, _ generator: inout RandomGenerator
  ) throws -> any LayerFamily {
    switch spec {
    case .parallel(let branches, let combine):
      let built = try branches.enumerated().map { i, branch in
        try build(branch, path: "\(path).parallel[\(i)]", width: width, registry, &generator)
      }
      return ParallelMixer(branches: built, combine: combine, width: width, generator: &generator)
    case .layer(let kind, let options):
      guard let entry = registry[kind] else {
        throw ModelSpecError(path, "cannot be built")  // validate() has named the problem already
      }
      return try entry.build(options, width, path, &generator)
    }
  }

  /// The spec's layer pattern, or `"model"` where it has none.
  public var label: String { spec.pattern() ?? "model" }

  func logits(_ hidden: Tensor) -> Tensor {
    let h = norm(hidden)
    if let head { return head(h) }
    return matmul(h, embedding.weight.transposed())
  }

  /// Logits, auxiliary losses and statistics for tokens `[B, T]`.
  public func forward(_ tokens: IndexTensor, options: ForwardOptions = ForwardOptions()) -> ModelOutput {
    var context = ForwardContext(direction: spec.direction, options: options)
    var x = embedding(tokens)
    for stage in stageLayout {
      guard let r = stage.resampler else {
        for i in stage.blocks { x = layers[i](x, &context, path: "layers.\(i)") }
        continue
      }
      // A token-to-concept stage: the blocks run on the concepts.
      context.layer = "resamplers.\(r)"
      let (concepts, boundaries) = resamplers[r].chunk(x, &context)
      var h = concepts
      for i in stage.blocks { h = layers[i](h, &context, path: "layers.\(i)") }
      x = resamplers[r].dechunk(h, boundaries, residual: x)
    }
    return ModelOutput(
      logits: logits(x), auxiliaryLosses: context.auxiliaryLosses, statistics: context.statistics)
  }

  /// Logits `[B, T, vocabulary]` for tokens `[B, T]`.
  public func callAsFunction(_ tokens: IndexTensor) -> Tensor { forward(tokens).logits }

  /// Tells every layer that updates itself after an optimizer step (``TrainingStepListener``:
  /// auxiliary-loss-free balancing) that a step was taken. ``train`` calls it after each update.
  public func finishTrainingStep() {
    for block in layers { for layer in block.layers { (layer as? any TrainingStepListener)?.finishTrainingStep() } }
  }

  /// Counted cost of every block (its layers, norms and residual sums) for `batch × time` tokens
  /// (embedding, final norm and head aside), with the blocks' total and active parameters.
  public func cost(batch: Int, time: Int) -> LayerCost {
    let context = CostContext(direction: spec.direction)
    return stageLayout.reduce(LayerCost.zero) { total, stage in
      var inner = time
      var cost = total
      if let r = stage.resampler {
        cost = cost + resamplers[r].cost(batch: batch, time: time, context: context)
        inner = resamplers[r].conceptLength(batch: batch, time: time)
      }
      return layers[stage.blocks].reduce(cost) { $0 + $1.cost(batch: batch, time: inner, context: context) }
    }
  }

  /// Per-layer decoding state: each mixer's typed state (KV cache, recurrent state), stage by
  /// stage; a token-to-concept stage's is one decoder for the whole stage.
  public struct DecodingState {
    var stages: [[any LayerDecoder]]
    /// Tokens decoded so far.
    public internal(set) var position = 0

    /// Bytes the state holds now, measured: every tensor of every layer's state (KV caches,
    /// recurrent states, convolution windows) found by walking the states themselves, not computed
    /// from a formula. ``cost(batch:time:)``'s `stateBytes` counts the same bytes for `time` tokens.
    public var bytes: Int { stages.joined().reduce(0) { $0 + $1.stateBytes } }
  }

  /// A fresh decoding state for `batch` sequences. Fails, naming the block's path, when a mixer
  /// has no recurrent form.
  public func decodingState(batch: Int) throws -> DecodingState {
    try DecodingState(
      stages: stageLayout.map { stage in
        let decoders = try blockDecoders(stage.blocks, batch: batch)
        guard let r = stage.resampler else { return decoders }
        return [
          ChunkedStageDecoder(
            chunking: resamplers[r], blocks: Array(layers[stage.blocks]), batch: batch,
            makeRowDecoders: { try! self.blockDecoders(stage.blocks, batch: 1) })
        ]
      })
  }

  /// Fresh decoders of the blocks `range` for `batch` sequences; fails naming the block's path
  /// when a mixer has no recurrent form.
  func blockDecoders(_ range: Range<Int>, batch: Int) throws -> [any LayerDecoder] {
    var decoders: [any LayerDecoder] = []
    for i in range {
      let block = layers[i]
      if let parallel = block.mixer as? ParallelMixer, let branch = parallel.firstNonRecurrentBranch {
        throw ModelSpecError(
          blockPaths[i] + ".mixer.parallel[\(branch)]",
          "\"\(type(of: parallel.branches[branch]).kind)\" has no recurrent form: decode with the parallel form instead"
        )
      }
      guard let recurrent = block.mixer as? any RecurrentLayer else {
        throw ModelSpecError(
          blockPaths[i] + ".mixer",
          "\"\(type(of: block.mixer).kind)\" has no recurrent form: decode with the parallel form instead")
      }
      decoders.append(makeDecoder(recurrent, batch: batch))
    }
    return decoders
  }

  /// Logits `[B, vocabulary]` for the next token after `tokens` `[B]`, extending `state`.
  public func step(_ tokens: IndexTensor, _ state: inout DecodingState) -> Tensor {
    var x = embedding(tokens)  // [B, D]
    for (s, stage) in stageLayout.enumerated() {
      if stage.resampler != nil {
        x = state.stages[s][0].step(x)
      } else {
        for (k, i) in stage.blocks.enumerated() { x = layers[i].step(x, state.stages[s][k]) }
      }
    }
    state.position += 1
    return logits(x)
  }
}

/// One layer's decoding: its typed state, advanced a token at a time.
protocol LayerDecoder: AnyObject {
  func step(_ x: Tensor) -> Tensor
  /// Bytes of the tensors the state holds now.
  var stateBytes: Int { get }
}

final class RecurrentDecoder<Layer: RecurrentLayer>: LayerDecoder {
  let layer: Layer
  var state: Layer.State

  init(_ layer: Layer, batch: Int) {
    self.layer = layer
    state = layer.initialState(batch: batch)
  }

  func step(_ x: Tensor) -> Tensor { layer.step(x, &state) }

  var stateBytes: Int { heldBytes(state) }
}

/// Bytes of the tensors `value` holds: a tensor's scalars, a nested decoder's state, and for any
/// other value (structs, optionals, arrays, tuples) the sum over its stored properties.
func heldBytes(_ value: Any) -> Int {
  if let tensor = value as? Tensor { return MemoryLayout<Float>.stride * tensor.count }
  if let scalars = value as? [Float] { return MemoryLayout<Float>.stride * scalars.count }
  if let decoder = value as? any LayerDecoder { return decoder.stateBytes }
  return Mirror(reflecting: value).children.reduce(0) { $0 + heldBytes($1.value) }
}

func makeDecoder<Layer: RecurrentLayer>(_ layer: Layer, batch: Int) -> any LayerDecoder {
  RecurrentDecoder(layer, batch: batch)
}
