import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

@Suite("Test-time training (TTT-Linear)")
struct TestTimeTrainingTests {
  /// Unit keys and queries (as the layer makes them), learning rates in (0, 1), a start weight.
  static func inputs(time: Int, seed: UInt64) -> [Tensor] {
    let (b, h, kd, vd) = (2, 2, 8, 6)
    func unit(_ t: Tensor) -> Tensor { t / (t.square().sum(axes: [3], keepDimensions: true) + 1e-6).sqrt() }
    return [
      unit(RandomTensors.make([b, time, h, kd], seed: seed)),
      unit(RandomTensors.make([b, time, h, kd], seed: seed + 1)),
      RandomTensors.make([b, time, h, vd], seed: seed + 2), RandomTensors.make([b, time, h], seed: seed + 3).sigmoid(),
      RandomTensors.make([b, h, kd, vd], seed: seed + 4),
    ]
  }

  @Test(
    "the dual form equals the primal form: outputs, final weights, every gradient (mini-batches of 16 and 64)",
    arguments: [1, 7, 63, 64, 65, 130])
  func formsAgree(_ time: Int) {
    let inputs = Self.inputs(time: time, seed: UInt64(time))
    let cotangent = RandomTensors.make([2, time, 2, 6], seed: 77),
      stateCotangent = RandomTensors.make([2, 2, 8, 6], seed: 78)
    for miniBatch in [16, 64] {
      func run(_ form: TestTimeTrainingForm) -> [Tensor] {
        func call(_ x: [Tensor]) -> (output: Tensor, finalState: Tensor) {
          testTimeTrainingLinear(
            x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: miniBatch, form: form)
        }
        let (o, g) = valueAndPullback(at: inputs, cotangent: cotangent) { call($0).output }
        let (w, gw) = valueAndPullback(at: inputs, cotangent: stateCotangent) { call($0).finalState }
        return [o, w] + g + gw
      }
      for (i, (dual, primal)) in zip(run(.dual), run(.primal)).enumerated() {
        let error = dual.relativeError(to: primal)
        #expect(error <= 2e-5, "T \(time) mini-batch \(miniBatch): tensor \(i) relative error \(error)")
      }
    }
  }

  @Test("with mini-batches of one token it is the delta rule with β = η")
  func deltaRuleAtBatchOne() {
    let x = Self.inputs(time: 20, seed: 5)
    let ttt = testTimeTrainingLinear(x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: 1)
    let delta = deltaRule(x[0], x[1], x[2], beta: x[3], initialState: x[4], scale: 1)
    #expect(ttt.output.relativeError(to: delta.output) <= 1e-5)
    #expect(ttt.finalState.relativeError(to: delta.finalState) <= 1e-5)
  }

  @Test(
    "mini-batches matter: a larger mini-batch gives other outputs; a state carried across a boundary equals one call")
  func miniBatchesAndCarriedState() {
    let x = Self.inputs(time: 48, seed: 9)
    let small = testTimeTrainingLinear(x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: 4)
    let large = testTimeTrainingLinear(x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: 16)
    #expect(small.output.relativeError(to: large.output) > 1e-3)
    let first = x.prefix(4).map { $0.slice(axis: 1, 0..<32) }, second = x.prefix(4).map { $0.slice(axis: 1, 32..<48) }
    let a = testTimeTrainingLinear(first[0], first[1], first[2], learningRate: first[3], initialState: x[4])
    let b = testTimeTrainingLinear(second[0], second[1], second[2], learningRate: second[3], initialState: a.finalState)
    #expect(concatenate([a.output, b.output], axis: 1).relativeError(to: large.output) <= 1e-5)
    #expect(b.finalState.relativeError(to: large.finalState) <= 1e-5)
  }
}
