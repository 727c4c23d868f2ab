import Foundation
import Testing
import TesseraCore
import TesseraNN
import _TestSupport

final class TinyBlock: Module {
  let qProj: Linear
  let layers: [Linear]
  let norm = LayerNorm(3)
  init(_ rng: inout RandomGenerator) {
    qProj = Linear(3, 3, bias: false, generator: &rng)
    layers = [Linear(3, 4, generator: &rng), Linear(4, 3, generator: &rng)]
  }
  func callAsFunction(_ x: Tensor) -> Tensor { layers[1](layers[0](norm(qProj(x))).tanh()) }
}

@Suite("Modules")
struct ModuleTests {
  @Test("parameters are named by their property path in snake_case, in declaration order")
  func names() {
    var rng = RandomGenerator(seed: 0)
    let block = TinyBlock(&rng)
    #expect(
      block.namedParameters().map(\.name) == [
        "q_proj.weight", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "norm.weight",
        "norm.bias",
      ])
    #expect(block.parameterCount == 9 + 12 + 4 + 12 + 3 + 3 + 3)
  }

  @Test(
    "a linear layer names the parameters reflection finds on it (bias or not, quantized or not), and updates reach it")
  func linearDeclaresItsParameters() throws {
    var rng = RandomGenerator(seed: 0)
    for bias in [true, false] {
      let layer = Linear(3, 2, bias: bias, generator: &rng)
      for quantized in [false, true] {
        if quantized { layer.quantize(.int8PerChannel) }
        let reflected = Mirror(reflecting: layer).children.compactMap { child -> String? in
          guard let label = child.label,
            child.value is Parameter || (child.value as? OptionalParameter)?.wrappedValue != nil
          else { return nil }
          return String(label.drop { $0 == "_" })
        }
        #expect(layer.namedParameters().map(\.name) == reflected, "bias \(bias), quantized \(quantized)")
      }
      var values = ["weight": Tensor(repeating: 2, shape: [2, 3])]
      if bias { values["bias"] = Tensor(repeating: 5, shape: [2]) }
      try layer.update(values)
      #expect(layer.weight.scalars == [Float](repeating: 2, count: 6))
      #expect(layer.bias?.scalars == (bias ? [5, 5] : nil))
    }
  }

  @Test("an optional module is found when present and skipped when absent, whichever is walked first")
  func optionalChildren() {
    final class MaybeLinear: Module {
      let gate: Linear?
      let skip: Int = 3
      init(present: Bool, _ rng: inout RandomGenerator) {
        gate = present ? Linear(2, 2, bias: false, generator: &rng) : nil
      }
    }
    var rng = RandomGenerator(seed: 0)
    for order in [[true, false], [false, true]] {
      for present in order {
        let names = MaybeLinear(present: present, &rng).namedParameters().map(\.name)
        #expect(names == (present ? ["gate.weight"] : []), "present \(present)")
      }
    }
  }

  @Test("update refuses unknown names, missing names (strict) and wrong shapes, naming them")
  func updateErrors() {
    var rng = RandomGenerator(seed: 0)
    let block = TinyBlock(&rng)
    #expect(throws: ModuleError.self) { try block.update(["layers.2.weight": Tensor.zeros([3, 3])]) }
    do {
      try block.update(["q_proj.weight": Tensor.zeros([3, 3])], strict: true)
      Issue.record("strict update with missing names went through")
    } catch {
      #expect("\(error)".contains("missing: layers.0.weight"))
    }
    do {
      try block.update(["q_proj.weight": Tensor.zeros([2, 3])])
      Issue.record("a wrong shape went through")
    } catch {
      #expect("\(error)".contains("q_proj.weight has shape [3, 3]"))
    }
  }

  @Test(
    "valueAndGradient(of:) and (of:at:) equal tracing by name (every parameter and the input), restore the parameters, and match finite differences"
  )
  func gradients() {
    var rng = RandomGenerator(seed: 1)
    let block = TinyBlock(&rng)
    let x = rng.normal([5, 3])
    let before = block.parameters()
    let (value, grads) = valueAndGradient(of: block) { $0(x).square().mean() }
    #expect(block.parameters().allSatisfy { before[$0.key]!.scalars == $0.value.scalars })
    let (valueWithInput, gradsWithInput, inputGradient) = valueAndGradient(of: block, at: x) { m, x in
      m(x).square().mean()
    }
    #expect(block.parameters().allSatisfy { before[$0.key]!.scalars == $0.value.scalars })
    let input = "input"
    let (v2, g2) = valueAndGradient(at: before.merging([input: x]) { a, _ in a }) { t in
      try! block.update(t.filter { $0.key != input })
      return block(t[input]!).square().mean()
    }
    try! block.update(before)
    #expect(value.scalar == v2.scalar && valueWithInput.scalar == v2.scalar)
    #expect(Set(grads.keys) == Set(before.keys) && Set(gradsWithInput.keys) == Set(before.keys))
    for (name, g) in grads { #expect(g.scalars == g2[name]!.scalars, "\(name)") }
    for (name, g) in gradsWithInput { #expect(g.scalars == g2[name]!.scalars, "\(name), with the input") }
    #expect(inputGradient.scalars == g2[input]!.scalars)
    // Through the linear layers (the fused norms have their own finite-difference tests in TesseraCore).
    let check = GradientCheck.check([x]) { block.layers[1](block.layers[0](block.qProj($0[0])).tanh()).square().mean() }
    #expect(check.worst < 1e-2, "\(check)")
  }
}

@Suite("Optimizers and schedules")
struct OptimizerTests {
  @Test("AdamW takes the step of the published update rule (decoupled decay, bias correction)")
  func adamW() {
    var rng = RandomGenerator(seed: 0)
    let layer = Linear(2, 2, generator: &rng)
    let w0 = layer.weight.scalars, b0 = layer.bias!.scalars
    let optimizer = AdamW(learningRate: 0.1, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.5)
    let g1 = Tensor([0.5, -1, 2, 0.25], shape: [2, 2]), g2 = Tensor([1, 1, -1, 0], shape: [2, 2])
    optimizer.update(layer, gradients: ["weight": g1, "bias": Tensor([1, 1])])
    optimizer.update(layer, gradients: ["weight": g2, "bias": Tensor([1, 1])])
    // By hand, in Double.
    for i in 0..<4 {
      var p = Double(w0[i]), m = 0.0, v = 0.0
      for (t, g) in [Double(g1.scalars[i]), Double(g2.scalars[i])].enumerated() {
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        let mh = m / (1 - pow(0.9, Double(t + 1))), vh = v / (1 - pow(0.99, Double(t + 1)))
        p -= 0.1 * (mh / (vh.squareRoot() + 1e-8) + 0.5 * p)
      }
      #expect(abs(Double(layer.weight.scalars[i]) - p) < 1e-6)
    }
    // The bias (rank 1) gets no weight decay: two steps of −lr·1.
    for i in 0..<2 { #expect(abs(layer.bias!.scalars[i] - (b0[i] - 0.2)) < 1e-6) }
  }

  @Test("warmup then cosine decay to the floor")
  func schedule() {
    let s = WarmupCosineSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, floor: 0.1)
    #expect(s.learningRate(at: 0) == 0.1)
    #expect(s.learningRate(at: 9) == 1)
    #expect(abs(s.learningRate(at: 60) - 0.55) < 1e-6)
    #expect(abs(s.learningRate(at: 110) - 0.1) < 1e-6)
    #expect(s.learningRate(at: 500) == 0.1)
  }

  @Test("clipping by global norm scales every gradient by the same factor")
  func clipping() {
    let g = ["a": Tensor([3, 0]), "b": Tensor([0, 4])]
    let (clipped, norm) = clipByGlobalNorm(g, maxNorm: 1)
    #expect(norm == 5)
    #expect(abs(clipped["a"]!.scalars[0] - 0.6) < 1e-5 && abs(clipped["b"]!.scalars[1] - 0.8) < 1e-5)
    #expect(clipByGlobalNorm(g, maxNorm: 10).gradients["a"]!.scalars == [3, 0])
  }

  @Test("rotary embedding: q·k depends only on the distance between positions")
  func rotary() {
    var rng = RandomGenerator(seed: 4)
    let rope = RotaryEmbedding(dimension: 8)
    let q = rng.normal([1, 1, 1, 8]), k = rng.normal([1, 1, 1, 8])
    func score(_ i: Int, _ j: Int) -> Float { (rope(q, offset: i) * rope(k, offset: j)).sum().scalar }
    #expect(abs(score(5, 2) - score(13, 10)) < 1e-4)
    #expect(abs(score(0, 0) - (q * k).sum().scalar) < 1e-5)
  }

  @Test("rotary embedding: the one-pass kernel equals the composed form (forward exactly, gradients to 1e-6)")
  func rotaryKernel() {
    var rng = RandomGenerator(seed: 5)
    let rope = RotaryEmbedding(dimension: 16)
    let x = rng.normal([2, 37, 3, 16]), cotangent = rng.normal([2, 37, 3, 16])
    for offset in [0, 5] {
      #expect(rope(x, offset: offset).scalars == rope.composed(x, offset: offset).scalars)
      let fast = gradient(at: x) { (rope($0, offset: offset) * cotangent).sum() }
      let spec = gradient(at: x) { (rope.composed($0, offset: offset) * cotangent).sum() }
      let error = (fast - spec).abs().max().scalar / spec.abs().max().scalar
      #expect(error < 1e-6)
    }
    // A strided view goes through the same kernel.
    let view = rng.normal([2, 16, 3, 37]).permuted(0, 3, 2, 1)
    #expect(rope(view).scalars == rope.composed(view).scalars)
  }
}
