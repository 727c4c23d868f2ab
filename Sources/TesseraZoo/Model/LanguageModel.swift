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
  /// A module's `gate` (module pruning) weights its output per sequence, or runs it on the kept
  /// sequences only.
  public func callAsFunction(
    _ x: Tensor, _ context: inout ForwardContext, path: String, mixerGate: ModuleGate? = nil,
    channelGate: ModuleGate? = nil
  ) -> Tensor {
    context.layer = path + ".mixer"
    var h = Self.residual(x, mixerGate) { mixer(norm1($0), &context) }
    if let norm2, let channel {
      context.layer = path + ".channel"
      h = Self.residual(h, channelGate) { channel(norm2($0), &context) }
    }
    return h
  }

  /// `x + module(x)` under `gate`: weighted per sequence, or computed on the kept sequences only
  /// (the others keep `x`; a module no sequence keeps is not run at all).
  static func residual(_ x: Tensor, _ gate: ModuleGate?, _ module: (Tensor) -> Tensor) -> Tensor {
    switch gate {
    case nil: return x + module(x)
    case .weights(let w): return x + module(x) * w
    case .rows(let rows):
      if rows.count == x.shape[0] { return x + module(x) }
      if rows.isEmpty { return x }
      let kept = IndexTensor(rows, shape: [rows.count])
      return x.indexAdding(axis: 0, indices: kept, source: module(x.indexSelect(axis: 0, indices: kept)))
    }
  }

  /// Counted cost over `batch × time` positions: the norms and residual sums around the layers,
  /// and the layers' own costs; a pruned module counted over the `mixerBatch` / `channelBatch`
  /// sequences that ran it.
  public func cost(
    batch: Int, time: Int, context: CostContext, mixerBatch: Int? = nil, channelBatch: Int? = nil
  ) -> LayerCost {
    let width = norm1.weight.shape[0]
    func module(_ layer: any LayerFamily, _ norm: Norm, _ sequences: Int) -> LayerCost {
      guard sequences > 0 else { return .zero }
      var cost = layer.cost(batch: sequences, time: time, context: context)
      cost.flops += norm.flops(rows: sequences * time) + sequences * time * width * FlopCount.arithmetic
      return cost
    }
    var total = module(mixer, norm1, mixerBatch ?? batch)
    if let norm2, let channel { total = total + module(channel, norm2, channelBatch ?? batch) }
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

/// A stage's blocks (a range of ``LanguageModel/layers``) and its resampler (an index into
/// ``LanguageModel/resamplers``). A struct, not a tuple: the module walk casts stored values, and
/// casting arrays of tuples from several threads at once has crashed the Swift runtime.
struct StageLayout {
  let blocks: Range<Int>
  let resampler: Int?
}

/// Sequences that ran each gated module (by slot) in an inference pass of `batch × time` tokens.
struct GateRows {
  let batch: Int
  let time: Int
  let kept: [Int: Int]
}

/// How a gated module runs in one forward pass (module pruning): its output weighted per
/// sequence by straight-through gates `[B, 1, 1]` (training), or computed only for the sequences
/// `rows` that keep it (inference).
public enum ModuleGate {
  case weights(Tensor)
  case rows([Int])
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
  /// The untied language-model head (nil when it is tied to the embedding or the model has none).
  public let head: Linear?
  /// Whether the model has a language-model head (``HeadSpec``): its ``ModelOutput/logits`` are
  /// next-token logits; without one they are the first classification head's.
  public let hasLanguageModelHead: Bool
  /// The JSON path of each block's spec (`stages[0].blocks[1]`; repeated blocks share one).
  public let blockPaths: [String]
  /// The token-to-concept modules of the stages that resample, in stage order
  /// (``StageSpec/resample``).
  public let resamplers: [ChunkingLayer]
  /// Each stage's blocks (a range of `layers`) and its resampler (an index into `resamplers`).
  let stageLayout: [StageLayout]
  /// Module pruning's gate predictor (``ModelSpec/gating``).
  public let gatePredictor: GatePredictor?
  /// The gated modules, in the predictor's order: `2 × block` for a block's mixer, `+ 1` for its
  /// channel layer.
  public let gatedModules: [Int]
  /// Sequences that ran each gated module in the last inference pass, with its batch and time.
  var lastGateRows: GateRows?
  /// Early exit: the heads (``BlockSpec/exit``), in block order, and the block each follows.
  public let exits: [ExitHead]
  public let exitBlocks: [Int]
  /// The classification heads (``HeadSpec/classifier(_:_:classes:pooling:)``), in spec order.
  public let classifiers: [ClassifierHead]
  /// Examples that ran each block in the last pass under an ``ExitPolicy``, with its batch and time.
  var lastExitRows: GateRows?

  /// Builds `spec` (checked first: nothing is built from a spec with a problem, and the error
  /// names its JSON path). Parameters are drawn from `generator` in order: the embedding, then per
  /// stage its resampler and per block the mixer and the channel layer, then an untied head, the
  /// gate predictor, the exit heads and the classification heads.
  public init(_ spec: ModelSpec, generator: inout RandomGenerator, registry: FamilyRegistry = Zoo.families) throws {
    try spec.validate(registry: registry)
    self.spec = spec
    embedding = Embedding(spec.vocabulary, spec.width, generator: &generator)
    var blocks: [Block] = []
    var paths: [String] = []
    var resamplers: [ChunkingLayer] = []
    var gated: [Int] = []
    var exitSpecs: [(block: Int, spec: ExitSpec)] = []
    let blockCount = spec.stages.reduce(0) { $0 + $1.blocks.reduce(0) { $0 + $1.repeats } }
    var layout: [StageLayout] = []
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
          if let gate = block.gate {
            if gate.mixer { gated.append(2 * blocks.count) }
            if gate.channel { gated.append(2 * blocks.count + 1) }
          }
          let mixer = try Self.build(block.mixer, path: path + ".mixer", width: spec.width, registry, &generator)
          let channel = try block.channel.map {
            try Self.build($0, path: path + ".channel", width: spec.width, registry, &generator)
          }
          if let exit = block.exit, blocks.count < blockCount - 1 { exitSpecs.append((blocks.count, exit)) }
          blocks.append(Block(mixer: mixer, channel: channel, norm: block.norm, width: spec.width))
          paths.append(path)
        }
      }
      layout.append(StageLayout(blocks: first..<blocks.count, resampler: resampler))
    }
    layers = blocks
    blockPaths = paths
    self.resamplers = resamplers
    stageLayout = layout
    norm = Norm(spec.norm, spec.width)
    hasLanguageModelHead = spec.heads[0].kind == .languageModel
    head =
      !hasLanguageModelHead || spec.heads[0].tied
      ? nil : Linear(spec.width, spec.vocabulary, bias: false, generator: &generator)
    gatedModules = gated
    gatePredictor = spec.gating.map {
      GatePredictor($0, width: spec.width, modules: gated.count, generator: &generator)
    }
    exitBlocks = exitSpecs.map(\.block)
    exits = exitSpecs.map { exit in
      ExitHead(
        exit.spec, normKind: spec.norm, width: spec.width,
        vocabulary: spec.vocabulary, generator: &generator)
    }
    classifiers = spec.heads.filter { $0.kind != .languageModel }.map {
      ClassifierHead($0, width: spec.width, generator: &generator)
    }
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
    if let quantized = embedding.quantized { return quantizedLinear(h, quantized) }
    return matmul(h, embedding.weight.transposed())
  }

  /// Logits, auxiliary losses and statistics for tokens `[B, T]`.
  ///
  /// `prefix` `[B, P, D]`: vectors placed before the token embeddings (soft prompts, entity
  /// vectors from a graph model), read by the blocks like tokens; the heads score the `T` token
  /// positions only.
  public func forward(
    _ tokens: IndexTensor, prefix: Tensor? = nil, options: ForwardOptions = ForwardOptions()
  ) -> ModelOutput {
    var context = ForwardContext(direction: spec.direction, options: options)
    var x = embedding(tokens)
    let prefixLength = prefix?.shape[1] ?? 0
    if let prefix {
      check(
        prefix.rank == 3 && prefix.shape[0] == x.shape[0] && prefix.shape[2] == spec.width,
        "LanguageModel.forward: a prefix \(prefix.shape) for \(x.shape[0]) sequences of width \(spec.width): expected [batch, length, width]"
      )
      check(
        options.exit == nil && resamplers.isEmpty,
        "LanguageModel.forward: a prefix with an exit policy or a token-to-concept stage is not supported")
      x = concatenate([prefix, x], axis: 1)
    }
    let gates = moduleGates(embeddings: x, &context)
    func run(_ i: Int, _ h: Tensor) -> Tensor {
      layers[i](h, &context, path: "layers.\(i)", mixerGate: gates[2 * i], channelGate: gates[2 * i + 1])
    }
    var exiting = EarlyExitPass(self, batch: x.shape[0], time: x.shape[1], options: options)
    stages: for stage in stageLayout {
      guard let r = stage.resampler else {
        for i in stage.blocks {
          x = run(i, x)
          x = exiting.afterBlock(i, x)
          if exiting.everyExampleExited { break stages }
        }
        continue
      }
      // A token-to-concept stage: the blocks run on the concepts.
      context.layer = "resamplers.\(r)"
      let (concepts, boundaries) = resamplers[r].chunk(x, &context)
      var h = concepts
      for i in stage.blocks { h = run(i, h) }
      x = resamplers[r].dechunk(h, boundaries, residual: x)
    }
    var heads: [String: Tensor] = [:]
    if prefixLength > 0 { x = x.slice(axis: 1, prefixLength..<x.shape[1]) }
    if hasLanguageModelHead { heads[spec.heads[0].name] = exiting.finish(x) }
    if !classifiers.isEmpty {
      let hidden = norm(x)
      for classifier in classifiers { heads[classifier.name] = classifier(hidden) }
    }
    lastExitRows = exiting.blockRows
    if let layers = exiting.exitLayers { context.record("exit_layer", layers.map(Double.init)) }
    return ModelOutput(
      logits: heads[spec.heads[0].name]!, auxiliaryLosses: context.auxiliaryLosses, statistics: context.statistics,
      exitLogits: exiting.exitLogits, exitLayers: exiting.exitLayers, heads: heads)
  }

  /// Logits `[B, T, vocabulary]` for tokens `[B, T]`.
  public func callAsFunction(_ tokens: IndexTensor) -> Tensor { forward(tokens).logits }

  /// Each module's gate for this pass (nil: not gated), by `2 × block (+ 1 for the channel)`.
  /// Training: Gumbel-softmax straight-through gates at the step's temperature, and the sparsity
  /// loss. Inference: the logits' decisions; the statistics `kept` (the fraction of sequences
  /// that run each gated module) and `sparsity` under `gates`.
  func moduleGates(embeddings x: Tensor, _ context: inout ForwardContext) -> [ModuleGate?] {
    var gates = [ModuleGate?](repeating: nil, count: 2 * layers.count)
    guard let predictor = gatePredictor, let gating = spec.gating else { return gates }
    let b = x.shape[0]
    let logits = predictor.logits(embeddings: x, contexts: context.options.contexts)  // [B, modules, 2]
    context.layer = "gates"
    var kept: [[Bool]]  // [module][sequence]
    if context.options.training {
      let step = context.options.step
      var noise = RandomGenerator(seed: gating.seed).fork("gates").fork(step)
      let soft = GumbelGate.soft(
        logits: logits, noise: GumbelGate.noise(logits.shape, generator: &noise),
        temperature: gating.temperature(step: step))
      let hard = GumbelGate.hard(soft)
      let sparsity = GumbelGate.sparsity(hard)
      if gating.sparsityWeight > 0 {
        context.addLoss(
          "gate_sparsity",
          GumbelGate.sparsityLoss(sparsity, target: Float(gating.targetSparsity), penalty: gating.penalty),
          weight: Float(gating.sparsityWeight))
      }
      let keep = hard.select(axis: 2, index: 1)  // [B, modules]
      let values = keep.detached().contiguous().scalars
      kept = gatedModules.indices.map { m in (0..<b).map { values[$0 * gatedModules.count + m] > 0.5 } }
      for (m, slot) in gatedModules.enumerated() {
        gates[slot] = .weights(keep.select(axis: 1, index: m).reshaped(b, 1, 1))
      }
    } else {
      let bySequence = Self.keeps(logits)
      kept = gatedModules.indices.map { m in bySequence.map { $0[m] } }
      for (m, slot) in gatedModules.enumerated() {
        gates[slot] = .rows((0..<b).filter { kept[m][$0] })
      }
      lastGateRows = GateRows(
        batch: b, time: x.shape[1],
        kept: Dictionary(uniqueKeysWithValues: zip(gatedModules, kept.map { $0.filter { $0 }.count })))
    }
    let fractions = kept.map { Double($0.filter { $0 }.count) / Double(max(b, 1)) }
    context.record("kept", fractions)
    context.record("sparsity", [1 - fractions.reduce(0, +) / Double(max(fractions.count, 1))])
    return gates
  }

  /// The inference decisions of the gate predictor for `tokens` `[B, T]` and their `contexts`:
  /// for each sequence, whether each gated module (``gatedModules``) runs.
  public func gateDecisions(_ tokens: IndexTensor, contexts: [Int]? = nil) -> [[Bool]] {
    guard let predictor = gatePredictor else { return [] }
    return withoutGradients { Self.keeps(predictor.logits(embeddings: embedding(tokens), contexts: contexts)) }
  }

  /// The inference decisions of keep/skip logits `[B, modules, 2]` (the argmax; class 1 = keep):
  /// for each sequence, whether each module runs.
  static func keeps(_ logits: Tensor) -> [[Bool]] {
    let (b, n) = (logits.shape[0], logits.shape[1])
    let choice = logits.detached().argmax(axis: -1).values
    return (0..<b).map { row in (0..<n).map { choice[row * n + $0] == 1 } }
  }

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
      let gated = lastGateRows.flatMap { $0.batch == batch && $0.time == time ? $0.kept : nil } ?? [:]
      let ran = lastExitRows.flatMap { $0.batch == batch && $0.time == time ? $0.kept : nil } ?? [:]
      return stage.blocks.reduce(cost) { total, i in
        total
          + layers[i].cost(
            batch: ran[i] ?? batch, time: inner, context: context, mixerBatch: gated[2 * i] ?? ran[i],
            channelBatch: gated[2 * i + 1] ?? ran[i])
      }
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
    if spec.gating != nil {
      throw ModelSpecError("gating", "a model with module gates decodes only in its parallel form (forward)")
    }
    if !hasLanguageModelHead {
      throw ModelSpecError("heads[0]", "a model without a language-model head has no next token to decode")
    }
    return try DecodingState(
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
