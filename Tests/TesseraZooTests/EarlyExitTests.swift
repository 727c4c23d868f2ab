import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

/// Early exit in a model (``BlockSpec/exit``, ``ExitPolicy``, ``Objective/earlyExit(weights:)``):
/// each exit head is the model cut after its block; under a policy the exited examples take
/// their head's logits and never reach a later block; spec errors by JSON path.
@Suite("Early exit")
struct EarlyExitTests {
  static let registry = try! FamilyRegistry([SoftmaxAttentionLayer.self, SwiGLU.self, RecordingChannel.self])

  /// Four blocks, exits after blocks 1 and 3 (1-based), shared or own heads.
  static func spec(channel: String = "swiglu", head: ExitSpec.Head = .shared) -> ModelSpec {
    let options: [String: JSONValue] = channel == "swiglu" ? ["hidden": 24] : [:]
    let plain = BlockSpec(mixer: .layer("attn", ["heads": 2]), channel: .layer(channel, options))
    var exiting = plain
    exiting.exit = ExitSpec(head: head)
    return ModelSpec(vocabulary: 11, width: 16, stages: [StageSpec(blocks: [exiting, plain, exiting, plain])])
  }

  static func model(channel: String = "swiglu", head: ExitSpec.Head = .shared, seed: UInt64 = 4) throws
    -> LanguageModel
  {
    var rng = RandomGenerator(seed: seed)
    return try LanguageModel(spec(channel: channel, head: head), generator: &rng, registry: registry)
  }

  @Test("each exit head's logits = the model cut after its block; shared heads add no parameters")
  func headsAreTheModelCut() throws {
    for head in [ExitSpec.Head.shared, .own] {
      let model = try Self.model(head: head)
      #expect(model.exitBlocks == [0, 2])
      var rng = RandomGenerator(seed: 9)
      let tokens = rng.integers([3, 7], in: 0..<11)
      let output = withoutGradients { model.forward(tokens, options: ForwardOptions(exitHeads: true)) }
      #expect(output.exitLogits.count == 2)
      var context = ForwardContext()
      var h = model.embedding(tokens)
      for i in 0..<3 {
        h = withoutGradients { model.layers[i](h, &context, path: "layers.\(i)") }
        guard let k = model.exitBlocks.firstIndex(of: i) else { continue }
        let exit = model.exits[k]
        let expected = withoutGradients {
          if let norm = exit.norm, let linear = exit.head { return linear(norm(h)) }
          return matmul(model.norm(h), model.embedding.weight.transposed())
        }
        #expect(output.exitLogits[k].relativeError(to: expected) == 0, "\(head) exit \(k)")
      }
    }
    let shared = try Self.model(head: .shared)
    var rng = RandomGenerator(seed: 4)
    let plain = try LanguageModel(
      ModelSpec(
        vocabulary: 11, width: 16,
        stages: [
          StageSpec(blocks: [
            BlockSpec(mixer: .layer("attn", ["heads": 2]), channel: .layer("swiglu", ["hidden": 24]), repeats: 4)
          ])
        ]),
      generator: &rng, registry: Self.registry)
    #expect(shared.parameterCount == plain.parameterCount)
    // Own heads: a layer norm (scale and shift) and a projection each.
    #expect(try Self.model(head: .own).parameterCount == plain.parameterCount + 2 * (2 * 16 + 16 * 11))
  }

  @Test(
    "under a policy: confident examples take their exit's logits, the rest the full model's; exit layers per example")
  func policyAssemblesLogits() throws {
    let model = try Self.model()
    var rng = RandomGenerator(seed: 11)
    let tokens = rng.integers([8, 6], in: 0..<11)
    let full = withoutGradients { model.forward(tokens, options: ForwardOptions(exitHeads: true)) }
    // Each exit's confidence at the last position; a threshold between the examples' values.
    let confidences = full.exitLogits.map {
      ExitConfidence.softmaxMax.confidence(logits: $0.select(axis: 1, index: 5), hidden: nil, previousHidden: nil)
    }
    let threshold = confidences[0].sorted()[4]
    let output = withoutGradients {
      model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(measure: .softmaxMax, threshold: threshold)))
    }
    let layers = try #require(output.exitLayers)
    for b in 0..<8 {
      let (expectedLayer, expected) =
        confidences[0][b] >= threshold
        ? (1, full.exitLogits[0]) : confidences[1][b] >= threshold ? (3, full.exitLogits[1]) : (4, full.logits)
      let row = { (t: Tensor) in t.select(axis: 0, index: b) }
      #expect(row(output.logits).relativeError(to: row(expected)) < 1e-6, "example \(b)")
      #expect(layers[b] == expectedLayer, "example \(b): \(layers[b])")
    }
    #expect(layers.filter { $0 == 1 }.count == 4)
    // Nobody confident: the plain forward pass; everybody: the first exit's logits.
    let none = withoutGradients { model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(threshold: 2))) }
    #expect(none.logits.relativeError(to: full.logits) == 0 && none.exitLayers == Array(repeating: 4, count: 8))
    let all = withoutGradients { model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(threshold: 0))) }
    #expect(all.logits.relativeError(to: full.exitLogits[0]) < 1e-6 && all.exitLayers == Array(repeating: 1, count: 8))
  }

  @Test("exited examples never reach a later block, and the counted FLOPs follow the examples that ran")
  func exitedWorkNeverRuns() throws {
    let model = try Self.model(channel: "recording")
    var rng = RandomGenerator(seed: 12)
    let tokens = rng.integers([6, 5], in: 0..<11)
    let heads = withoutGradients { model.forward(tokens, options: ForwardOptions(exitHeads: true)).exitLogits[0] }
    let confidence = ExitConfidence.softmaxDifference.confidence(
      logits: heads.select(axis: 1, index: 4), hidden: nil, previousHidden: nil)
    for block in model.layers { (block.channel as! RecordingChannel).batches = [] }
    let output = withoutGradients {
      model.forward(
        tokens,
        options: ForwardOptions(exit: ExitPolicy(measure: .softmaxDifference, threshold: confidence.sorted()[3])))
    }
    let layers = try #require(output.exitLayers)
    for (i, block) in model.layers.enumerated() {
      let ran = layers.filter { $0 > i }.count
      let recorder = try #require(block.channel as? RecordingChannel)
      #expect(recorder.batches == (ran == 0 ? [] : [ran]), "block \(i): ran on \(recorder.batches), expected \(ran)")
    }
    #expect(Set(layers) != [4], "the threshold should let some examples exit: \(layers)")
    let counted = model.cost(batch: 6, time: 5).flops
    let expected = model.layers.enumerated().reduce(0) { sum, item in
      sum + item.element.cost(batch: layers.filter { $0 > item.offset }.count, time: 5, context: CostContext()).flops
    }
    #expect(counted == expected)
    // Every example leaving at the first exit: the blocks after it are never reached and count nothing.
    let early = withoutGradients { model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(threshold: 0))) }
    let first = try #require(early.exitLayers?.first)
    let reached = model.layers.prefix(first).reduce(0) { $0 + $1.cost(batch: 6, time: 5, context: CostContext()).flops }
    #expect(model.cost(batch: 6, time: 5).flops == reached)
    // A later pass without a policy counts every block over the whole batch again.
    _ = withoutGradients { model.forward(tokens) }
    let full = model.layers.reduce(0) { $0 + $1.cost(batch: 6, time: 5, context: CostContext()).flops }
    #expect(model.cost(batch: 6, time: 5).flops == full)
  }

  @Test("the state measure: cosine with the previous block's state at the position; never exits at the first block")
  func stateMeasure() throws {
    let model = try Self.model()
    var rng = RandomGenerator(seed: 13)
    let tokens = rng.integers([5, 6], in: 0..<11)
    let output = withoutGradients {
      model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(measure: .hiddenStateCosine, threshold: -1)))
    }
    // Exit 0 follows block 0, whose state measure is 0 ≥ −1: everyone exits there.
    #expect(output.exitLayers == Array(repeating: 1, count: 5))
    let strict = withoutGradients {
      model.forward(tokens, options: ForwardOptions(exit: ExitPolicy(measure: .hiddenStateCosine, threshold: 0.01)))
    }
    #expect(strict.exitLayers?.allSatisfy { $0 == 3 || $0 == 4 } == true, "\(strict.exitLayers ?? [])")
    // At exit 1 (after block 2): the cosine of blocks 1 and 2's states at the last position, written out;
    // a threshold between the examples' values sends those above it out at block 3.
    var context = ForwardContext()
    var h = model.embedding(tokens)
    var states: [Tensor] = []
    for i in 0..<3 {
      h = withoutGradients { model.layers[i](h, &context, path: "layers.\(i)") }
      states.append(h.select(axis: 1, index: 5))
    }
    let cosine = ExitConfidence.hiddenStateCosine.confidence(logits: nil, hidden: states[2], previousHidden: states[1])
    let threshold = cosine.sorted()[2]
    let mixed = withoutGradients {
      model.forward(
        tokens, options: ForwardOptions(exit: ExitPolicy(measure: .hiddenStateCosine, threshold: threshold)))
    }
    #expect(mixed.exitLayers == cosine.map { $0 >= threshold ? 3 : 4 }, "\(mixed.exitLayers ?? []) \(cosine)")
  }

  @Test("Objective.earlyExit: Σ weights × cross-entropy of every head; its gradient reaches the exit heads")
  func objective() throws {
    let model = try Self.model(head: .own)
    var rng = RandomGenerator(seed: 14)
    let inputs = rng.integers([3, 6], in: 0..<11), targets = rng.integers([3, 6], in: 0..<11)
    let loss = Objective.earlyExit(weights: [0.25, 0.5, 1]).loss(model, inputs: inputs, targets: targets)
    let heads = loss.output.exitLogits + [loss.output.logits]
    let expected = zip(heads, [Float(0.25), 0.5, 1]).reduce(Float(0)) {
      $0 + $1.1 * crossEntropy($1.0, targets: targets).scalar
    }
    #expect(abs(loss.objective.scalar - expected) < 1e-5)
    let (_, gradients) = valueAndGradient(of: model) {
      Objective.earlyExit(weights: [0.25, 0.5, 1]).loss($0, inputs: inputs, targets: targets).total
    }
    for name in ["exits.0.head.weight", "exits.0.norm.weight", "exits.1.head.weight", "exits.1.norm.weight"] {
      let g = try #require(gradients[name], "no gradient for \(name)")
      #expect(g.scalars.contains { $0 != 0 }, "\(name)")
    }
  }

  @Test("spec errors name the exit's path: the last block, inside a chunk stage, with module pruning, an unknown key")
  func specErrors() throws {
    var last = Self.spec()
    last.stages[0].blocks[3].exit = ExitSpec()
    #expect(validationError(last)?.path == "stages[0].blocks[3].exit")
    let json = """
      {"vocabulary": 11, "width": 16, "stages": [{"blocks": [{"mixer": {"kind": "attn"}, "exit": {"head": "mine"}}, {"mixer": {"kind": "attn"}}]}]}
      """
    let unknown = try #require(specError(json, registry: Self.registry))
    #expect(unknown.path.hasSuffix("exit.head"), "\(unknown)")
    var chunked = Self.spec()
    chunked.stages.append(
      StageSpec(resample: ResampleSpec(kind: "chunk"), blocks: [BlockSpec(mixer: .layer("attn"), exit: ExitSpec())]))
    chunked.stages.append(StageSpec(blocks: [BlockSpec(mixer: .layer("attn"))]))
    #expect(validationError(chunked, registry: Zoo.families)?.path == "stages[1].blocks[0].exit")
    var gated = Self.spec()
    gated.stages[0].blocks[1].gate = GateSpec()
    gated.gating = GatingSpec()
    #expect(validationError(gated)?.path == "stages[0].blocks[0].exit")
  }
}

/// The error `spec` fails validation with, if any.
private func validationError(_ spec: ModelSpec, registry: FamilyRegistry = EarlyExitTests.registry) -> ModelSpecError? {
  do {
    try spec.validate(registry: registry)
    return nil
  } catch let error as ModelSpecError {
    return error
  } catch {
    return nil
  }
}
