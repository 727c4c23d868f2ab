import Foundation
import Testing
import TesseraCore
import TesseraZoo
import _TestSupport

/// The graph layers against dense references written from their definitions, and their gradients
/// against finite differences. The graph has a node nobody sends to (only its self-loop), a node
/// that already has a self-loop, and a node with several incoming edges.
@Suite("Graph layers (GCN, GAT)")
struct GraphLayerTests {
  static let edges = EdgeList(nodes: 6, sources: [0, 1, 2, 3, 3, 4, 5, 2, 0], targets: [1, 2, 3, 3, 0, 0, 0, 4, 4])

  static func inputs(_ seed: UInt64) -> (x: Tensor, weight: Tensor, a: Tensor, b: Tensor, bias: Tensor) {
    var rng = RandomGenerator(seed: seed)
    return (rng.normal([6, 4]), rng.normal([3, 4]), rng.normal([3]), rng.normal([3]), rng.normal([3]))
  }

  /// `D^-1/2 (A + I) D^-1/2 (x Wᵀ) + b` with a dense A (A[i][j] = 1 per edge j → i, a loop not
  /// doubled), D the in-degrees of A + I.
  static func denseGCN(_ x: [Float], _ w: [Float], _ bias: [Float], nodes n: Int, inputs f: Int, outputs g: Int)
    -> [Float]
  {
    var a = [[Float]](repeating: [Float](repeating: 0, count: n), count: n)
    for (s, t) in zip(edges.sources, edges.targets) { a[t][s] = 1 }
    for i in 0..<n { a[i][i] = 1 }
    let degree = a.map { $0.reduce(0, +) }
    var h = [Float](repeating: 0, count: n * g)
    for i in 0..<n { for o in 0..<g { for k in 0..<f { h[i * g + o] += x[i * f + k] * w[o * f + k] } } }
    var out = [Float](repeating: 0, count: n * g)
    for i in 0..<n {
      for j in 0..<n where a[i][j] != 0 {
        let norm = 1 / (degree[i] * degree[j]).squareRoot()
        for o in 0..<g { out[i * g + o] += norm * h[j * g + o] }
      }
      for o in 0..<g { out[i * g + o] += bias[o] }
    }
    return out
  }

  @Test("GCN = the dense normalised adjacency product (1e-6); gradients = finite differences (2e-3)")
  func graphConvolution() {
    let p = Self.inputs(1)
    let got = GraphConvolution.convolve(p.x, edges: Self.edges, weight: p.weight, bias: p.bias)
    let expected = Self.denseGCN(p.x.scalars, p.weight.scalars, p.bias.scalars, nodes: 6, inputs: 4, outputs: 3)
    let error = got.relativeError(to: Tensor(expected, shape: [6, 3]))
    #expect(error < 1e-6, "\(error)")
    let result = GradientCheck.check([p.x, p.weight, p.bias]) { t in
      GraphConvolution.convolve(t[0], edges: Self.edges, weight: t[1], bias: t[2])
    }
    #expect(result.worst < 2e-3, "\(result)")
  }

  /// Per node: LeakyReLU scores of its incoming edges and one self-loop, softmax, weighted sum.
  static func denseGAT(_ p: (x: Tensor, weight: Tensor, a: Tensor, b: Tensor, bias: Tensor)) -> [Float] {
    let h = matmul(p.x, p.weight.transposed()).scalars
    let (aSource, aTarget, bias) = (p.a.scalars, p.b.scalars, p.bias.scalars)
    func dot(_ v: [Float], _ node: Int) -> Float { (0..<3).reduce(0) { $0 + v[$1] * h[node * 3 + $1] } }
    var out: [Float] = []
    for i in 0..<6 {
      let senders = zip(Self.edges.sources, Self.edges.targets).filter { $0.1 == i && $0.0 != i }.map(\.0) + [i]
      let scores = senders.map { j -> Float in
        let e = dot(aTarget, i) + dot(aSource, j)
        return e > 0 ? e : 0.2 * e
      }
      let top = scores.max()!
      let weights = scores.map { Foundation.exp($0 - top) }
      let total = weights.reduce(0, +)
      for o in 0..<3 {
        out.append(zip(senders, weights).reduce(0) { $0 + $1.1 / total * h[$1.0 * 3 + o] } + bias[o])
      }
    }
    return out
  }

  @Test(
    "GAT = the per-node softmax over incoming edges and one self-loop (1e-6); gradients = finite differences (2e-3)")
  func graphAttention() {
    let p = Self.inputs(2)
    let got = GraphAttention.attend(
      p.x, edges: Self.edges, weight: p.weight, attentionSource: p.a, attentionTarget: p.b, bias: p.bias
    )
    let error = got.relativeError(to: Tensor(Self.denseGAT(p), shape: [6, 3]))
    #expect(error < 1e-6, "\(error)")
    let result = GradientCheck.check([p.x, p.weight, p.a, p.b, p.bias]) { t in
      GraphAttention.attend(
        t[0], edges: Self.edges, weight: t[1], attentionSource: t[2], attentionTarget: t[3], bias: t[4])
    }
    #expect(result.worst < 2e-3, "\(result)")
  }

  @Test("self-loops: GCN adds the missing ones and keeps an existing one; GAT keeps exactly one per node")
  func selfLoops() {
    let gcn = Self.edges.withMissingSelfLoops()
    #expect(gcn.count == Self.edges.count + 5)
    #expect(zip(gcn.sources, gcn.targets).filter { $0 == $1 }.count == 6)
    let gat = Self.edges.withOneSelfLoopEach()
    #expect(gat.count == Self.edges.count - 1 + 6)
    #expect(zip(gat.sources, gat.targets).filter { $0 == $1 }.map(\.0) == Array(0..<6))
  }

  @Test("the layers as modules train their parameters")
  func modules() {
    var rng = RandomGenerator(seed: 3)
    let gcn = GraphConvolution(4, 3, generator: &rng)
    let gat = GraphAttention(4, 3, generator: &rng)
    #expect(gcn.parameterCount == 4 * 3 + 3)
    #expect(gat.parameterCount == 4 * 3 + 3 + 3 + 3)
    let x = rng.normal([6, 4])
    let y = gat(gcn(x, edges: Self.edges).relu().matmul(rng.normal([3, 4])), edges: Self.edges)
    #expect(y.shape == [6, 3])
  }
}
