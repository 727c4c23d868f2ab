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
      func run(_ form: Form) -> [Tensor] {
        func call(_ x: [Tensor]) -> (output: Tensor, finalState: Tensor) {
          testTimeTrainingLinear(
            x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: miniBatch, form: form)
        }
        return valuesAndPullbacks(at: inputs, cotangents: [cotangent, stateCotangent]) {
          let result = call($0)
          return [result.output, result.finalState]
        }
      }
      expectAgree(run(.parallel), run(.reference), tolerance: 2e-5, "T \(time) mini-batch \(miniBatch)")
    }
  }

  @Test("with mini-batches of one token it is the delta rule with β = η")
  func deltaRuleAtBatchOne() {
    let x = Self.inputs(time: 20, seed: 5)
    let ttt = testTimeTrainingLinear(x[0], x[1], x[2], learningRate: x[3], initialState: x[4], miniBatch: 1)
    let delta = deltaRule(x[0], x[1], x[2], beta: x[3], initialState: x[4], scale: 1, form: .reference)
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

@Suite("Test-time training (TTT-MLP)")
struct TestTimeTrainingMLPTests {
  /// Unit keys and queries, learning rates in (0, 0.2) (the MLP's inner loss is steeper than the
  /// linear model's: rates near 1 diverge over a few mini-batches), and starting weights of a
  /// K 8 → M 12 → V 6 MLP.
  static func inputs(time: Int, seed: UInt64) -> [Tensor] {
    let (b, h, kd, md, vd) = (2, 2, 8, 12, 6)
    func unit(_ t: Tensor) -> Tensor { t / (t.square().sum(axes: [3], keepDimensions: true) + 1e-6).sqrt() }
    return [
      unit(RandomTensors.make([b, time, h, kd], seed: seed)),
      unit(RandomTensors.make([b, time, h, kd], seed: seed + 1)),
      RandomTensors.make([b, time, h, vd], seed: seed + 2),
      RandomTensors.make([b, time, h], seed: seed + 3).sigmoid() * 0.2,
      RandomTensors.make([b, h, kd, md], seed: seed + 4), RandomTensors.make([b, h, md, vd], seed: seed + 5) * 0.3,
    ]
  }

  static func call(_ x: [Tensor], miniBatch: Int, form: Form) -> (
    output: Tensor, finalWeights: (first: Tensor, second: Tensor)
  ) {
    testTimeTrainingMLP(
      x[0], x[1], x[2], learningRate: x[3], initialWeights: (x[4], x[5]), miniBatch: miniBatch, form: form)
  }

  @Test(
    "the dual form equals the primal form: outputs, final weights, every gradient (mini-batches of 4 and 16)",
    arguments: [1, 7, 16, 33])
  func formsAgree(_ time: Int) {
    let inputs = Self.inputs(time: time, seed: UInt64(time))
    let cotangent = RandomTensors.make([2, time, 2, 6], seed: 77)
    let firstCotangent = RandomTensors.make([2, 2, 8, 12], seed: 78),
      secondCotangent = RandomTensors.make([2, 2, 12, 6], seed: 79)
    for miniBatch in [4, 16] {
      func run(_ form: Form) -> [Tensor] {
        valuesAndPullbacks(at: inputs, cotangents: [cotangent, firstCotangent, secondCotangent]) {
          let result = Self.call($0, miniBatch: miniBatch, form: form)
          return [result.output, result.finalWeights.first, result.finalWeights.second]
        }
      }
      expectAgree(run(.parallel), run(.reference), tolerance: 2e-5, "T \(time) mini-batch \(miniBatch)")
    }
  }

  @Test("one mini-batch moves the weights by −Σ η_s ∇ℓ_s, with ∇ℓ_s from autodiff of ½‖f(k_s) − v_s‖²")
  func innerGradientsAreTheLossGradients() {
    let x = Self.inputs(time: 10, seed: 21)
    let final = Self.call(x, miniBatch: 16, form: .parallel).finalWeights
    // Σ_s η_s ½‖gelu(k_s W₁) W₂ − v_s‖², summed over tokens; its gradient at the starting weights.
    let grads = gradient(at: [x[4], x[5]]) { w in
      let f = matmul(matmul(x[1].permuted(0, 2, 1, 3), w[0]).gelu(approximate: true), w[1])
      let residual = f - x[2].permuted(0, 2, 1, 3)
      return (residual.square().sum(axes: [3]) * x[3].permuted(0, 2, 1) * 0.5).sum()
    }
    #expect(final.first.relativeError(to: x[4] - grads[0]) <= 1e-5)
    #expect(final.second.relativeError(to: x[5] - grads[1]) <= 1e-5)
  }

  @Test("gradients through the inner loop (through gelu′) match finite differences")
  func secondOrderGradients() {
    var x = Self.inputs(time: 5, seed: 31)
    x = x.map { $0.slice(axis: 0, 0..<1) }
    let result = GradientCheck.check(x, step: 1e-2) { Self.call($0, miniBatch: 4, form: .parallel).output }
    #expect(result.worst <= 1e-3, "\(result)")
  }

  @Test(
    "a TTT layer decodes token by token across mini-batch boundaries as its parallel form",
    arguments: ["linear", "mlp"])
  func layerDecoding(_ inner: String) {
    var rng = RandomGenerator(seed: 8)
    let layer = TestTimeTrainingLayer(
      modelDimension: 16, heads: 2, miniBatch: 4, innerModel: .init(rawValue: inner)!, generator: &rng)
    if let w2 = layer.initialOutputWeight { layer.initialOutputWeight = w2 + 0.1 }  // a nonzero start
    let x = rng.normal([2, 11, 16])
    var context = ForwardContext()
    let parallel = layer(x, &context)
    var state = layer.initialState(batch: 2)
    for t in 0..<11 {
      let y = layer.step(x.select(axis: 1, index: t), &state)
      let error = y.relativeError(to: parallel.select(axis: 1, index: t))
      #expect(error < 1e-5, "\(inner) token \(t): \(error)")
    }
  }
}
