import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo
import _TestSupport

/// A channel layer that records the sequences it was given (and doubles nothing: `tanh(x)`), so a
/// test can see which modules ran on what.
final class RecordingChannel: LayerFamily {
  struct Options: LayerOptions { init() {} }
  static let kind = "recording"
  static let slot = LayerSlot.channel
  static let capabilities: LayerCapabilities = [.causal, .bidirectional]
  static let summary = "tanh, recording the batch sizes it runs on (tests only)"
  let options = Options()
  var batches: [Int] = []
  init(_ options: Options, width: Int, generator: inout RandomGenerator) {}
  func callAsFunction(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    batches.append(x.shape[0])
    return x.tanh()
  }
  func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    LayerCost(flops: batch * time * 1000, activationBytes: 0, stateBytes: 0)
  }
}

/// Module pruning (``GatingSpec``, ``GatePredictor``, ``BlockSpec/gate``): hard decisions at
/// inference that skip the module for the sequences that do not keep it, straight-through gates in
/// training, the sparsity loss, spec errors by JSON path.
@Suite("Module pruning")
struct ModulePruningTests {
  static let registry = try! FamilyRegistry([
    SoftmaxAttentionLayer.self, GatedLinearAttentionLayer.self, SwiGLU.self, RecordingChannel.self,
  ])

  /// Three gated blocks (mixer and channel), contexts and pooled features, random predictor weights
  /// so that decisions differ between sequences.
  static func model(channel: String = "swiglu", inputs: GatingSpec.Inputs = .both, seed: UInt64 = 3) throws
    -> LanguageModel
  {
    let block = { (kind: String) in
      BlockSpec(
        mixer: .layer(kind, ["heads": 2]), channel: .layer(channel, channel == "swiglu" ? ["hidden": 24] : [:]),
        gate: GateSpec())
    }
    let spec = ModelSpec(
      vocabulary: 13, width: 16, stages: [StageSpec(blocks: [block("attn"), block("gla"), block("attn")])],
      gating: GatingSpec(inputs: inputs, contexts: 3, hidden: 8, targetSparsity: 0.5))
    var rng = RandomGenerator(seed: seed)
    let model = try LanguageModel(spec, generator: &rng, registry: registry)
    try model.update(
      Dictionary(
        uniqueKeysWithValues: model.namedParameters().filter { $0.name.hasPrefix("gate_predictor.") }.map {
          ($0.name, rng.normal($0.value.shape, standardDeviation: 1.5))
        }))
    return model
  }

  /// Logits for one sequence with the modules `keep` says (by `gatedModules` order) and no others,
  /// from the model's own parts: what skipping must compute.
  static func reference(_ model: LanguageModel, _ tokens: IndexTensor, row: Int, keep: [Bool]) -> Tensor {
    let t = tokens.shape[1]
    var x = model.embedding(IndexTensor(Array(tokens.values[(row * t)..<((row + 1) * t)]), shape: [1, t]))
    for (i, block) in model.layers.enumerated() {
      let runs = { (slot: Int) in model.gatedModules.firstIndex(of: slot).map { keep[$0] } ?? true }
      if runs(2 * i) { x = x + block.mixer(block.norm1(x)) }
      if let channel = block.channel, let norm2 = block.norm2, runs(2 * i + 1) { x = x + channel(norm2(x)) }
    }
    return matmul(model.norm(x), model.embedding.weight.transposed())
  }

  @Test("at inference each sequence runs only the modules it keeps: the logits of the model without the others")
  func inferenceSkips() throws {
    for inputs in GatingSpec.Inputs.allCases {
      let model = try Self.model(inputs: inputs)
      var rng = RandomGenerator(seed: 8)
      let tokens = rng.integers([6, 11], in: 0..<13)
      let contexts = [0, 1, 2, 0, 1, 2]
      let decisions = model.gateDecisions(tokens, contexts: contexts)
      let kept = decisions.joined().filter { $0 }.count
      #expect(kept > 0 && kept < decisions.joined().count, "\(inputs): decisions all alike \(decisions)")
      let logits = withoutGradients { model.forward(tokens, options: ForwardOptions(contexts: contexts)).logits }
      for row in 0..<6 {
        let expected = withoutGradients { Self.reference(model, tokens, row: row, keep: decisions[row]) }
        let error = logits.slice(axis: 0, row..<(row + 1)).relativeError(to: expected)
        #expect(error < 1e-5, "\(inputs) sequence \(row): \(error)")
      }
    }
  }

  @Test("a skipped module is never run on the sequences that skip it, and the counted FLOPs follow")
  func skippedWorkNeverRuns() throws {
    let model = try Self.model(channel: "recording")
    var rng = RandomGenerator(seed: 5)
    let tokens = rng.integers([6, 9], in: 0..<13)
    let contexts = [0, 1, 2, 2, 1, 0]
    let decisions = model.gateDecisions(tokens, contexts: contexts)
    let output = withoutGradients { model.forward(tokens, options: ForwardOptions(contexts: contexts)) }
    var expectedFlops = 0
    for (i, block) in model.layers.enumerated() {
      let recorder = try #require(block.channel as? RecordingChannel)
      let m = try #require(model.gatedModules.firstIndex(of: 2 * i + 1))
      let keeping = decisions.filter { $0[m] }.count
      #expect(recorder.batches == (keeping == 0 ? [] : [keeping]), "block \(i): ran on \(recorder.batches)")
      expectedFlops += keeping * 9 * 1000
    }
    let kept = try #require(output.statistics.first { $0.name == "kept" && $0.layer == "gates" }).values
    #expect(kept.count == model.gatedModules.count)
    // Counted cost after the pass: each channel over the sequences that ran it.
    let channels = model.layers.map { block -> Int in
      (block.channel as! RecordingChannel).cost(batch: 1, time: 9).flops
    }
    #expect(channels.allSatisfy { $0 == 9000 })
    let total = model.cost(batch: 6, time: 9)
    let mixers = model.layers.enumerated().reduce(0) { sum, item in
      let m = model.gatedModules.firstIndex(of: 2 * item.offset)!
      let keeping = decisions.filter { $0[m] }.count
      return sum
        + item.element.cost(batch: 6, time: 9, context: CostContext(), mixerBatch: keeping, channelBatch: 0).flops
    }
    let channelNorms = model.layers.enumerated().reduce(0) { sum, item in
      let keeping = decisions.filter { $0[model.gatedModules.firstIndex(of: 2 * item.offset + 1)!] }.count
      return sum + item.element.norm2!.flops(rows: keeping * 9) + keeping * 9 * 16
    }
    #expect(total.flops == mixers + expectedFlops + channelNorms)
  }

  @Test("training: straight-through gates reach the predictor, the sparsity loss is added, the noise is the step's")
  func training() throws {
    let model = try Self.model()
    var rng = RandomGenerator(seed: 2)
    let tokens = rng.integers([6, 10], in: 0..<13)
    let contexts = [0, 1, 2, 0, 1, 2]
    let pass = { (step: Int) in
      Objective.nextToken.loss(model, inputs: tokens, targets: tokens, step: step, contexts: contexts)
    }
    let (first, again, other) = (pass(0), pass(0), pass(1))
    #expect(first.total.scalar == again.total.scalar, "the same step drew different noise")
    #expect(first.total.scalar != other.total.scalar, "two steps drew the same noise")
    let loss = try #require(first.output.auxiliaryLosses.first { $0.name == "gate_sparsity" })
    let sparsity = try #require(first.output.statistics.first { $0.name == "sparsity" }).values[0]
    #expect(abs(Double(loss.value.scalar) - (sparsity - 0.5) * (sparsity - 0.5)) < 1e-6)
    for objective in ["task", "sparsity"] {
      let gradients = valueAndGradient(of: model) { m in
        let out = Objective.nextToken.loss(m, inputs: tokens, targets: tokens, step: 0, contexts: contexts)
        return objective == "task" ? out.objective : out.output.auxiliaryLosses[0].value
      }.1
      for name in ["gate_predictor.output.weight", "gate_predictor.context_embedding.weight"] {
        let g = try #require(gradients[name], "\(objective): no gradient for \(name)")
        #expect(g.abs().max().scalar > 0, "\(objective): zero gradient for \(name)")
      }
    }
  }

  @Test("spec errors name the JSON path")
  func specErrors() throws {
    func error(_ json: String) -> String {
      do {
        var rng = RandomGenerator(seed: 1)
        _ = try LanguageModel(ModelSpec.decode(json: json), generator: &rng)
        return "built"
      } catch { return "\(error)" }
    }
    let block = #"{"mixer": {"kind": "attn", "options": {"heads": 2}}, "channel": {"kind": "mlp"}"#
    let cases: [(String, String)] = [
      (
        #"{"vocabulary": 8, "width": 8, "stages": [{"blocks": [\#(block), "gate": {}}]}]}"#,
        "stages[0].blocks[0].gate: a gated block needs the model's gate predictor"
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {}, "stages": [{"blocks": [\#(block)}]}]}"#,
        "gating: no block has a gate"
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {"targetSparsity": 1.5}, "stages": [{"blocks": [\#(block), "gate": {}}]}]}"#,
        "gating.targetSparsity: must be in [0, 1)"
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {"inputs": "task"}, "stages": [{"blocks": [\#(block), "gate": {}}]}]}"#,
        "gating.inputs: \"task\" is not one of \"context\", \"pooled\", \"both\""
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {}, "stages": [{"blocks": [{"mixer": {"kind": "attn", "options": {"heads": 2}}, "gate": {}}]}]}"#,
        "stages[0].blocks[0].gate.channel: the block has no channel layer"
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {}, "stages": [{"blocks": [\#(block), "gate": {"mixer": false, "channel": false}}]}]}"#,
        "stages[0].blocks[0].gate: gates neither"
      ),
      (
        #"{"vocabulary": 8, "width": 8, "gating": {}, "stages": [{"blocks": [\#(block), "gate": {"attention": true}}]}]}"#,
        "stages[0].blocks[0].gate.attention: unknown key"
      ),
    ]
    for (json, expected) in cases {
      let message = error(json)
      #expect(message.hasPrefix(expected), "\(message)")
    }
  }

  @Test("multi-context data: tasks in turn, each sequence its task's own example and context id; sorting sorts")
  func multiContextTasks() throws {
    let copying = SelectiveCopying(vocabularySize: 12, sequenceLength: 24, count: 5, seed: 1)
    let sorting = Sorting(vocabularySize: 12, sequenceLength: 24, count: 6, seed: 2)
    let recall = MultiQueryAssociativeRecall(vocabularySize: 12, sequenceLength: 24, pairs: 4, seed: 3)
    let tasks = MultiContextTasks([("copying", copying), ("sorting", sorting), ("recall", recall)])
    let batch = tasks.batch(2, size: 5)
    #expect(batch.contexts == [1, 2, 0, 1, 2])  // positions 10…14
    let task: [any SequenceTask] = [copying, sorting, recall]
    for n in 0..<5 {
      let position = 10 + n
      let own = task[position % 3].batch(position / 3, size: 1)
      #expect(Array(batch.inputs.values[(n * 24)..<((n + 1) * 24)]) == own.inputs.values)
      #expect(Array(batch.targets.values[(n * 24)..<((n + 1) * 24)]) == own.targets.values)
    }
    let example = sorting.batch(0, size: 1)
    let data = Array(example.inputs.values[0..<6]), answer = Array(example.inputs.values[7..<13])
    #expect(example.inputs.values[6] == Sorting.separator && answer == data.sorted())
    #expect(Array(example.targets.values[6..<12]) == answer)
  }
}
