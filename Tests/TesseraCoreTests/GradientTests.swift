import Foundation
import Testing
import TesseraCore
import _TestSupport

/// One differentiable op under test: its inputs and how to call it.
struct GradientCase: Sendable, CustomStringConvertible {
  let name: String
  let shapes: [[Int]]
  let domain: InputDomain
  let function: @Sendable ([Tensor]) -> Tensor

  init(
    _ name: String, _ shapes: [[Int]], _ domain: InputDomain = .normal,
    _ function: @escaping @Sendable ([Tensor]) -> Tensor
  ) {
    self.name = name
    self.shapes = shapes
    self.domain = domain
    self.function = function
  }

  var description: String { name }
}

/// Every differentiable op of TesseraCore. An op missing here has no gradient test.
let gradientCases: [GradientCase] = [
  // Pointwise
  GradientCase("negate", [[3, 4]]) { -$0[0] },
  GradientCase("exp", [[3, 4]]) { $0[0].exp() },
  GradientCase("sin", [[3, 4]]) { $0[0].sin() },
  GradientCase("cos", [[3, 4]]) { $0[0].cos() },
  GradientCase("log", [[3, 4]], .positive) { $0[0].log() },
  GradientCase("sqrt", [[3, 4]], .positive) { $0[0].sqrt() },
  GradientCase("rsqrt", [[3, 4]], .positive) { $0[0].rsqrt() },
  GradientCase("tanh", [[3, 4]]) { $0[0].tanh() },
  GradientCase("sigmoid", [[3, 4]]) { $0[0].sigmoid() },
  GradientCase("relu", [[3, 4]], .awayFromZero) { $0[0].relu() },
  GradientCase("gelu", [[3, 4]]) { $0[0].gelu() },
  GradientCase("gelu(tanh)", [[3, 4]]) { $0[0].gelu(approximate: true) },
  GradientCase("silu", [[3, 4]]) { $0[0].silu() },
  GradientCase("softplus", [[3, 4]]) { $0[0].softplus() },
  GradientCase("logSigmoid", [[3, 4]]) { $0[0].logSigmoid() },
  GradientCase("abs", [[3, 4]], .awayFromZero) { $0[0].abs() },
  GradientCase("square", [[3, 4]]) { $0[0].square() },
  GradientCase("pow(x, 1.7)", [[3, 4]], .positive) { $0[0].pow(1.7) },
  // Binary, same shape and broadcast
  GradientCase("add", [[3, 4], [3, 4]]) { $0[0] + $0[1] },
  GradientCase("add broadcast [3,4]+[4]", [[3, 4], [4]]) { $0[0] + $0[1] },
  GradientCase("subtract broadcast [3,1]-[1,4]", [[3, 1], [1, 4]]) { $0[0] - $0[1] },
  GradientCase("multiply", [[3, 4], [3, 4]]) { $0[0] * $0[1] },
  GradientCase("multiply broadcast [2,3,4]*[3,1]", [[2, 3, 4], [3, 1]]) { $0[0] * $0[1] },
  GradientCase("divide", [[3, 4], [3, 4]], .positive) { $0[0] / $0[1] },
  GradientCase("divide broadcast [3,4]/[4]", [[3, 4], [4]], .positive) { $0[0] / $0[1] },
  GradientCase("pow", [[3, 4], [3, 4]], .positive) { pow($0[0], $0[1]) },
  GradientCase("pow broadcast [3,4]^[1]", [[3, 4], [1]], .positive) { pow($0[0], $0[1]) },
  GradientCase("maximum", [[3, 4], [3, 4]], .distinct) { maximum($0[0], $0[1] + 0.05) },
  GradientCase("minimum broadcast [3,4],[4]", [[3, 4], [4]], .distinct) { minimum($0[0], $0[1] + 0.05) },
  GradientCase("scalar arithmetic", [[3, 4]], .positive) { (2 - $0[0] * 3 + 1) / 2 + 1 / $0[0] },
  GradientCase("where", [[3, 4], [4]]) { xs in
    `where`(Tensor([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0], shape: [3, 4]), xs[0], xs[1])
  },
  // Reductions
  GradientCase("sum (all)", [[3, 4]]) { $0[0].sum() },
  GradientCase("sum axis 0", [[3, 4]]) { $0[0].sum(axis: 0) },
  GradientCase("sum axes [0,2]", [[2, 3, 4]]) { $0[0].sum(axes: [0, 2]) },
  GradientCase("mean axis 1 keepDimensions", [[3, 4]]) { $0[0].mean(axis: 1, keepDimensions: true) },
  GradientCase("max axis -1", [[3, 4]], .distinct) { $0[0].max(axis: -1) },
  GradientCase("max (all)", [[3, 4]], .distinct) { $0[0].max() },
  GradientCase("min axis 0", [[3, 4]], .distinct) { $0[0].min(axis: 0) },
  GradientCase("logSumExp axis -1", [[3, 4]]) { $0[0].logSumExp(axes: [-1]) },
  GradientCase("logSumExp axes [0,1]", [[2, 3, 4]]) { $0[0].logSumExp(axes: [0, 1]) },
  GradientCase("variance axis 1", [[3, 4]]) { $0[0].variance(axes: [1], correction: 1) },
  // Softmax family
  GradientCase("softmax axis -1", [[3, 5]]) { $0[0].softmax() },
  GradientCase("softmax axis 0", [[3, 5]]) { $0[0].softmax(axis: 0) },
  GradientCase("logSoftmax axis -1", [[3, 5]]) { $0[0].logSoftmax() },
  GradientCase("logSoftmax axis 1 of rank 3", [[2, 3, 4]]) { $0[0].logSoftmax(axis: 1) },
  // Scans
  GradientCase("cumulativeSum axis 1", [[3, 4]]) { $0[0].cumulativeSum(axis: 1) },
  GradientCase("cumulativeSum axis 0 reverse", [[3, 4]]) { $0[0].cumulativeSum(axis: 0, reverse: true) },
  GradientCase("cumulativeProduct axis 1", [[3, 4]]) { $0[0].cumulativeProduct(axis: 1) },
  GradientCase("cumulativeProduct axis 0 of rank 3", [[3, 2, 2]]) { $0[0].cumulativeProduct(axis: 0) },
  GradientCase("exponentialMovingAverage", [[2, 5, 3], [2, 5]]) {
    exponentialMovingAverage($0[0], rates: $0[1].sigmoid())
  },
  // Matrix products
  GradientCase("matmul", [[3, 4], [4, 5]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul batched × shared", [[2, 3, 4], [4, 5]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul batched × batched", [[2, 3, 4], [2, 4, 5]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul broadcast batch", [[2, 1, 3, 4], [3, 4, 2]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul shared × batched", [[3, 4], [2, 4, 5]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul vector × matrix", [[4], [4, 5]]) { matmul($0[0], $0[1]) },
  GradientCase("matmul A·Bᵀ", [[3, 4], [5, 4]]) { matmul($0[0], $0[1].transposed()) },
  GradientCase("linear", [[2, 3, 4], [5, 4], [5]]) { linear($0[0], weight: $0[1], bias: $0[2]) },
  GradientCase("linear (no bias)", [[3, 4], [5, 4]]) { linear($0[0], weight: $0[1]) },
  // Joining and cutting
  GradientCase("concatenate axis 1", [[3, 2], [3, 4]]) { concatenate([$0[0], $0[1]], axis: 1) },
  GradientCase("stack axis 1", [[3, 4], [3, 4]]) { stack([$0[0], $0[1]], axis: 1) },
  GradientCase("split", [[3, 6]]) { xs in
    let parts = xs[0].split(sizes: [1, 2, 3], axis: 1)
    return concatenate([parts[2] * 2, parts[0], parts[1] * 3], axis: 1)
  },
  GradientCase("slice with step", [[5, 4]]) { $0[0].slice(axis: 0, 1..<5, step: 2) },
  GradientCase("select", [[3, 4]]) { $0[0].select(axis: 1, index: 2) },
  GradientCase("pad", [[3, 4]]) { $0[0].padded([(1, 2), (0, 3)], value: 0.5) },
  GradientCase("lowerTriangle", [[2, 4, 4]]) { $0[0].lowerTriangle() },
  GradientCase("upperTriangle diagonal 1", [[4, 5]]) { $0[0].upperTriangle(diagonal: 1) },
  GradientCase("unitLowerTriangularInverse", [[2, 5, 5]]) { ($0[0] * 0.5).unitLowerTriangularInverse() },
  // Indexing
  GradientCase("gather axis 1", [[3, 4]]) {
    $0[0].gather(axis: 1, indices: IndexTensor([[0, 3, 3], [1, 1, 0], [2, 0, 1]]))
  },
  GradientCase("gather axis 0", [[3, 4]]) {
    $0[0].gather(axis: 0, indices: IndexTensor([[2, 0, 1, 1], [0, 0, 2, 1]]))
  },
  GradientCase("indexSelect (embedding)", [[5, 3]]) {
    $0[0].indexSelect(axis: 0, indices: IndexTensor([[4, 0], [4, 2]]))
  },
  GradientCase("indexSelect axis 1", [[2, 5, 3]]) { $0[0].indexSelect(axis: 1, indices: IndexTensor([3, 3, 1])) },
  GradientCase("scatterAdd", [[3, 4], [3, 2]]) { xs in
    xs[0].scatterAdding(axis: 1, indices: IndexTensor([[0, 0], [3, 1], [2, 2]]), source: xs[1])
  },
  GradientCase("indexAdd", [[4, 3], [3, 3]]) { xs in
    xs[0].indexAdding(axis: 0, indices: IndexTensor([1, 3, 1]), source: xs[1])
  },
  GradientCase("topK values", [[3, 6]], .distinct) { $0[0].topK(3).values },
  GradientCase("topK axis 0", [[5, 3]], .distinct) { $0[0].topK(2, axis: 0).values },
  // Fused normalisation and loss
  GradientCase("layerNorm", [[4, 6], [6], [6]]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) },
  GradientCase("layerNorm (no affine)", [[2, 3, 5]]) { layerNorm($0[0]) },
  GradientCase("rmsNorm", [[4, 6], [6]]) { rmsNorm($0[0], weight: $0[1]) },
  GradientCase("rmsNorm (no weight)", [[2, 3, 5]]) { rmsNorm($0[0]) },
  GradientCase("crossEntropy", [[4, 5]]) { crossEntropy($0[0], targets: IndexTensor([1, 4, 0, 2])) },
  GradientCase("weightedCrossEntropySum", [[2, 3, 5]]) { xs in
    weightedCrossEntropySum(
      xs[0], targets: IndexTensor([[1, 9, 0], [2, 4, 3]]), weights: [0.5, 0, 2, 1.25, -0.75, 0.1])
  },
  GradientCase("crossEntropy ignoreIndex", [[2, 3, 5]]) { xs in
    crossEntropy(xs[0], targets: IndexTensor([[1, -100, 0], [2, 4, -100]]), ignoreIndex: -100)
  },
  GradientCase("dropout", [[4, 6]]) { xs in
    var rng = RandomGenerator(seed: 5)
    return xs[0].dropout(probability: 0.3, generator: &rng)
  },
  // Views
  GradientCase("reshape", [[3, 4]]) { $0[0].reshaped(2, 6) * Tensor.arange(0, 6) },
  GradientCase("permute", [[2, 3, 4]]) { $0[0].permuted(2, 0, 1) * Tensor.arange(0, 3) },
  GradientCase("transpose", [[3, 4]]) { $0[0].transposed() * Tensor.arange(0, 3) },
  GradientCase("broadcast(to:)", [[3, 1]]) { $0[0].broadcast(to: [2, 3, 4]) },
  GradientCase("expand and squeeze", [[3, 4]]) { $0[0].expandingDimensions(at: 1).squeezed() * 2 },
  GradientCase("contiguous", [[3, 4]]) { $0[0].transposed().contiguous() },
]

@Suite("Gradients match finite differences")
struct GradientTests {
  /// Tolerance on ‖analytic − numeric‖ / ‖numeric‖. Central differences in float32 with step
  /// 1e-2 carry truncation error ~h²·f‴/6 ≈ 2e-5 and roundoff ~ulp(L)/h ≈ 1e-5·|L|; 1e-3 leaves
  /// room for both while a wrong gradient (a dropped term, a missing broadcast sum) is off by > 1e-1.
  static let tolerance: Float = 1e-3

  @Test("backward of every op, every layout", arguments: gradientCases, Layout.allCases)
  func backwardMatchesFiniteDifferences(_ op: GradientCase, _ layout: Layout) {
    let inputs = op.shapes.enumerated().map { RandomTensors.make($1, seed: UInt64(11 + $0), domain: op.domain) }
    let result = GradientCheck.check(inputs) { xs in op.function(xs.map(layout.apply)) }
    if ProcessInfo.processInfo.environment["SHOW_ERRORS"] != nil { print("GRADERR", op.name, layout, result) }
    #expect(result.worst <= Self.tolerance, "\(op.name) [\(layout)]: \(result)")
  }

  @Test("a graph of 200,000 chained ops differentiates and is released without exhausting the stack")
  func longChains() {
    let x = Tensor([1, 2, 3])
    let (value, grad) = valueAndGradient(at: x) { x in
      var y = x
      for i in 0..<200_000 { y = i % 2 == 0 ? y * 2 : y * 0.5 }  // exact in float32
      return y.sum()
    }
    #expect(value.scalar == 6)
    #expect(grad.scalars == [1, 1, 1])
  }

  @Test("a gradient of a non-scalar is refused, and nothing is recorded outside")
  func scalarAndRecording() {
    let x = Tensor([1, 2, 3])
    #expect(!(x * 2).isTraced)
    let (value, grad) = valueAndGradient(at: x) { x in
      let inside = withoutGradients { x * 5 }
      #expect(!inside.isTraced)
      return (x * x).sum()
    }
    #expect(value.scalar == 14)
    #expect(grad.scalars == [2, 4, 6])
    #expect(!value.isTraced)
  }

  @Test("gradient of a dictionary of parameters keeps its keys; unused inputs get zeros")
  func treeGradient() {
    let params: [String: Tensor] = ["w": Tensor([[1, 2], [3, 4]]), "b": Tensor([0.5, -0.5]), "unused": Tensor([7])]
    let x = Tensor([[1, 1]])
    let g = gradient(at: params) { p in (matmul(x, p["w"]!) + p["b"]!).sum() }
    #expect(g["w"]!.scalars == [1, 1, 1, 1])
    #expect(g["b"]!.scalars == [1, 1])
    #expect(g["unused"]!.scalars == [0])
  }

  @Test("a value used twice accumulates both gradients")
  func fanOut() {
    let g = gradient(at: Tensor([3])) { x in (x * x + x.exp()).sum() }
    #expect(Swift.abs(g.scalars[0] - (6 + Float(20.085537))) < 1e-3)
  }
}

@Suite("The gradient checker itself")
struct GradientCheckerTests {
  @Test("flags a gradient that is wrong")
  func catchesWrongGradient() {
    // d/dx (x · stopgrad(x)) is x by autodiff but 2x by finite differences.
    let x = RandomTensors.make([3, 4], seed: 3)
    let result = GradientCheck.check([x]) { xs in xs[0] * xs[0].detached() }
    #expect(result.worst > 0.3)
  }
}
