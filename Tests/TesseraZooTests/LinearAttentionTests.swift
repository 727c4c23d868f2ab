import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo
import _TestSupport

/// The ops of the gated linear recurrence family, each run on q, k, v (and its log gate, where it
/// has one) in a given form.
let linearFamilyOps:
  [String: @Sendable ([Tensor], GatedLinearRecurrence.Form) -> (output: Tensor, finalState: Tensor)] = [
    "linear_attention": { x, f in linearAttention(x[0], x[1], x[2], form: f) },
    "retention": { x, f in retention(x[0], x[1], x[2], form: f) },
    "simple_gla": { x, f in simpleGatedLinearAttention(x[0], x[1], x[2], logGate: x[3], form: f) },
    "gla": { x, f in gatedLinearAttention(x[0], x[1], x[2], logGate: x[3], form: f) },
  ]

let linearForms: [GatedLinearRecurrence.Form] = [
  .recurrent, .parallel, .chunked(chunkSize: 16), .chunked(chunkSize: 64),
]

@Suite("Gated linear recurrences")
struct LinearAttentionTests {
  static let lengths = [1, 7, 63, 64, 65, 130]

  @Test("all forms agree: outputs, final states, gradients; a carried state equals one call", arguments: Self.lengths)
  func formsAgree(_ time: Int) {
    let (b, h, kd, vd) = (2, 2, 8, 6)
    for (name, op) in linearFamilyOps.sorted(by: { $0.key < $1.key }) {
      let seed = UInt64(time * 31 + name.count)
      var inputs = [
        RandomTensors.make([b, time, h, kd], seed: seed), RandomTensors.make([b, time, h, kd], seed: seed + 1),
        RandomTensors.make([b, time, h, vd], seed: seed + 2),
      ]
      // Log gates in (−1, 0): sigmoid-style decays as the models produce them.
      if name == "simple_gla" { inputs.append(RandomTensors.make([b, time, h], seed: seed + 3).sigmoid() * -1) }
      if name == "gla" { inputs.append(RandomTensors.make([b, time, h, kd], seed: seed + 3).sigmoid() * -1) }
      let cotangent = RandomTensors.make([b, time, h, vd], seed: seed + 4)
      func run(_ form: GatedLinearRecurrence.Form) -> [Tensor] {
        let (o, g) = valueAndPullback(at: inputs, cotangent: cotangent) { x in op(x, form).output }
        return [o, withoutGradients { op(inputs, form).finalState }] + g
      }
      let reference = run(.recurrent)
      for form in linearForms.dropFirst() {
        expectAgree(run(form), reference, tolerance: 2e-5, "\(name) T \(time) \(form)")
      }
      // Two calls with the state carried equal one call over the whole sequence.
      if time >= 7 && name != "retention" {
        let cut = time / 2
        let first = inputs.map { $0.slice(axis: 1, 0..<cut) }, second = inputs.map { $0.slice(axis: 1, cut..<time) }
        let whole = op(inputs, .chunked(chunkSize: 16))
        let a = op(first, .chunked(chunkSize: 16))
        let bPart: (output: Tensor, finalState: Tensor)
        switch name {
        case "gla":
          bPart = gatedLinearAttention(second[0], second[1], second[2], logGate: second[3], initialState: a.finalState)
        case "simple_gla":
          bPart = simpleGatedLinearAttention(
            second[0], second[1], second[2], logGate: second[3], initialState: a.finalState)
        default: bPart = linearAttention(second[0], second[1], second[2], initialState: a.finalState)
        }
        #expect(
          concatenate([a.output, bPart.output], axis: 1).relativeError(to: whole.output) <= 2e-6,
          "\(name) carried state")
        #expect(bPart.finalState.relativeError(to: whole.finalState) <= 2e-6)
      }
    }
  }
}

@Suite("Linear attention layers in a language model")
struct LinearAttentionModelTests {
  @Test(
    "recurrent decoding reproduces the parallel logits token by token",
    arguments: [
      "gla", "retnet", "linear", "mamba", "deltanet", "gated-deltanet", "mamba2", "fox", "s4d", "ttt-linear", "ttt-mlp",
    ])
  func decoding(_ mixer: String) {
    var rng = RandomGenerator(seed: 2)
    let model = LanguageModel(
      LanguageModelConfig(vocabularySize: 40, modelDimension: 32, layerPattern: "\(mixer),attn", heads: 2),
      generator: &rng)
    let tokens = rng.integers([2, 9], in: 0..<40)
    let parallel = model(tokens)
    var state = model.initialDecodingState()
    for t in 0..<9 {
      let logits = model.step(IndexTensor([tokens.values[t], tokens.values[9 + t]], shape: [2]), &state)
      let error = logits.relativeError(to: parallel.slice(axis: 1, t..<(t + 1)).reshaped(2, 40))
      #expect(error < 1e-5, "\(mixer) token \(t): \(error)")
    }
  }

  @Test(
    "every mixer trains inside a language model: the loss falls on MQAR",
    arguments: [
      "attn", "gla", "retnet", "linear", "mamba", "deltanet", "gated-deltanet", "mamba2", "fox", "s4d", "ttt-linear",
      "ttt-mlp",
    ])
  func trains(_ mixer: String) {
    var rng = RandomGenerator(seed: 3)
    let model = LanguageModel(
      LanguageModelConfig(vocabularySize: 64, modelDimension: 32, layerPattern: "\(mixer),\(mixer)", heads: 2),
      generator: &rng)
    let task = MultiQueryAssociativeRecall(vocabularySize: 64, sequenceLength: 32, pairs: 2, seed: 3)
    let optimizer = AdamW(learningRate: 3e-3, weightDecay: 0)
    var losses: [Float] = []
    for step in 0..<80 {
      let batch = task.batch(step, size: 16)
      let (loss, grads) = valueAndGradient(of: model) { $0.loss(batch.inputs, targets: batch.targets) }
      optimizer.update(model, gradients: grads)
      losses.append(loss.scalar)
    }
    let first: Float = losses.prefix(5).reduce(0, +), last: Float = losses.suffix(5).reduce(0, +)
    #expect(last < 0.88 * first, "\(mixer): \(losses)")
  }
}
