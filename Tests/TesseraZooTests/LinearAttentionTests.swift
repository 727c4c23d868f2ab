import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraTasks
import TesseraZoo
import _TestSupport

/// The ops of the gated linear recurrence family, each run on q, k, v (and its log gate, where it
/// has one) from an initial state (nil: zero) in a given form.
let linearFamilyOps: [String: @Sendable ([Tensor], Tensor?, Form) -> (output: Tensor, finalState: Tensor)] = [
  "linear_attention": { x, s, f in linearAttention(x[0], x[1], x[2], initialState: s, form: f) },
  "retention": { x, s, f in retention(x[0], x[1], x[2], initialState: s, form: f) },
  "simple_gla": { x, s, f in
    simpleGatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], initialState: s, form: f)
  },
  "gla": { x, s, f in gatedLinearAttention(x[0], x[1], x[2], logDecay: x[3], initialState: s, form: f) },
]

let linearForms: [Form] = [
  .reference, .parallel, .chunked(size: 16), .chunked(size: 64),
]

@Suite("Gated linear recurrences")
struct LinearAttentionTests {
  static let lengths = [1, 7, 63, 64, 65, 130]

  /// Every form against the recurrence from a random initial state: the output, the final state,
  /// and the gradients of both (with their own cotangents) with respect to every input and the
  /// initial state.
  @Test(
    "all forms agree: outputs, final states, gradients through both and the initial state; a carried state equals one call",
    arguments: Self.lengths)
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
      let initial = RandomTensors.make([b, h, kd, vd], seed: seed + 5)
      let stateCotangent = RandomTensors.make([b, h, kd, vd], seed: seed + 6)
      func run(_ form: Form) -> [Tensor] {
        let all = inputs + [initial]
        let (o, g) = valueAndPullback(at: all, cotangent: cotangent) { x in
          op(Array(x.dropLast()), x.last!, form).output
        }
        let (s, gs) = valueAndPullback(at: all, cotangent: stateCotangent) { x in
          op(Array(x.dropLast()), x.last!, form).finalState
        }
        return [o, s] + g + gs
      }
      let reference = run(.reference)
      for form in linearForms.dropFirst() {
        expectAgree(run(form), reference, tolerance: 2e-5, "\(name) T \(time) \(form)")
      }
      // Two calls with the state carried equal one call over the whole sequence.
      if time >= 7 && name != "retention" {
        let cut = time / 2
        let first = inputs.map { $0.slice(axis: 1, 0..<cut) }, second = inputs.map { $0.slice(axis: 1, cut..<time) }
        let whole = op(inputs, nil, .chunked(size: 16))
        let a = op(first, nil, .chunked(size: 16))
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
