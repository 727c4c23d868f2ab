import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo
import _TestSupport

/// A golden op of the gated linear recurrence family: how to run it on a file's inputs, and which
/// inputs have gradients.
struct LinearFamilyOp: Sendable {
  let inputs: [String]
  let run: @Sendable ([Tensor], Form) -> (output: Tensor, finalState: Tensor)
}

let linearFamilyOps: [String: LinearFamilyOp] = [
  "linear_attention": LinearFamilyOp(inputs: ["q", "k", "v"]) { x, f in linearAttention(x[0], x[1], x[2], form: f) },
  "retention": LinearFamilyOp(inputs: ["q", "k", "v"]) { x, f in retention(x[0], x[1], x[2], form: f) },
  "simple_gla": LinearFamilyOp(inputs: ["q", "k", "v", "g"]) { x, f in
    simpleGatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], form: f)
  },
  "gla": LinearFamilyOp(inputs: ["q", "k", "v", "gk"]) { x, f in
    gatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], form: f)
  },
]

/// Runs `run` on the inputs `names` of a golden file and expects its output, its final state (when
/// the file has one; always when `requireFinalState`) and the gradient of every input within 1e-4
/// relative RMS of the reference. `label` names the form in failure messages.
func expectMatchesGolden(
  _ golden: GoldenVectors.File, inputs names: [String], label: String, requireFinalState: Bool = false,
  _ run: @escaping ([Tensor]) -> (output: Tensor, finalState: Tensor)
) throws {
  let file = try golden.load()
  let inputs = names.map { file.tensors[$0]! }
  let (o, grads) = valueAndPullback(at: inputs, cotangent: file.tensors["d_o"]!) { run($0).output }
  let error = o.relativeError(to: file.tensors["o"]!)
  #expect(error <= 1e-4, "\(golden) \(label): o \(error)")
  if requireFinalState { _ = try #require(file.tensors["final_state"], "\(golden) has no final_state") }
  if let reference = file.tensors["final_state"] {
    let state = withoutGradients { run(inputs).finalState }
    #expect(state.relativeError(to: reference) <= 1e-4, "\(golden) \(label): final state")
  }
  for (name, g) in zip(names, grads) {
    let e = g.relativeError(to: file.tensors["grad_" + name]!)
    #expect(e <= 1e-4, "\(golden) \(label): grad_\(name) \(e)")
  }
}

let linearForms: [Form] = [
  .reference, .parallel, .chunked(size: 16), .chunked(size: 64),
]

@Suite("Gated linear recurrences")
struct LinearAttentionTests {
  static let goldenFiles = GoldenVectors.files().filter { linearFamilyOps[$0.op] != nil }

  @Test("the golden files of the family are found")
  func found() {
    guard GoldenVectors.isAvailable else {
      withKnownIssue("golden folder \(GoldenVectors.directory) not found on this machine", isIntermittent: false) {
        Issue.record("skipped")
      }
      return
    }
    #expect(Self.goldenFiles.count == 4)
  }

  /// Output, final state and every input gradient within 1e-4 relative RMS of the reference.
  @Test("every form matches the reference vectors", arguments: Self.goldenFiles, linearForms)
  func golden(_ golden: GoldenVectors.File, _ form: Form) throws {
    let op = linearFamilyOps[golden.op]!
    try expectMatchesGolden(golden, inputs: op.inputs, label: "\(form)") { op.run($0, form) }
  }

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
      func run(_ form: Form) -> [Tensor] {
        let (o, g) = valueAndPullback(at: inputs, cotangent: cotangent) { x in op.run(x, form).output }
        return [o, withoutGradients { op.run(inputs, form).finalState }] + g
      }
      let reference = run(.reference)
      for form in linearForms.dropFirst() {
        expectAgree(run(form), reference, tolerance: 2e-5, "\(name) T \(time) \(form)")
      }
      // Two calls with the state carried equal one call over the whole sequence.
      if time >= 7 && name != "retention" {
        let cut = time / 2
        let first = inputs.map { $0.slice(axis: 1, 0..<cut) }, second = inputs.map { $0.slice(axis: 1, cut..<time) }
        let whole = op.run(inputs, .chunked(size: 16))
        let a = op.run(first, .chunked(size: 16))
        let bPart: (output: Tensor, finalState: Tensor)
        switch name {
        case "gla":
          bPart = gatedLinearAttention(second[0], second[1], second[2], logDecay: second[3], initialState: a.finalState)
        case "simple_gla":
          bPart = simpleGatedLinearAttention(
            second[0], second[1], second[2], logDecay: second[3], initialState: a.finalState)
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
