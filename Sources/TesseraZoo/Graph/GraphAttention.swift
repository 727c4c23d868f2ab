import TesseraCore
import TesseraNN

/// A graph attention layer, one head (Veličković et al., "Graph Attention Networks", ICLR 2018)
/// over an ``EdgeList``: node features `[N, F_in] → [N, F_out]`,
///
///     h = W x,   e_ij = LeakyReLU_0.2(a_dst · h_i + a_src · h_j)   for each edge j → i,
///     α_ij = softmax over the edges into i of e_ij,   o_i = Σ_j α_ij h_j + b,
///
/// over the edges with exactly one self-loop per node (PyTorch Geometric's `GATConv`). The
/// softmax over a node's incoming edges is taken by scatter-adding by target (its maximum
/// subtracted first, a constant that leaves the softmax and its gradient unchanged).
public final class GraphAttention: Module {
  public let linear: Linear
  @Parameter public var attentionSource: Tensor
  @Parameter public var attentionTarget: Tensor
  @Parameter public var bias: Tensor
  public let negativeSlope: Float

  public init(_ inputs: Int, _ outputs: Int, negativeSlope: Float = 0.2, generator: inout RandomGenerator) {
    linear = Linear(inputs, outputs, bias: false, generator: &generator)
    let bound = (6 / Float(outputs + 1)).squareRoot()
    attentionSource = generator.uniform([outputs], low: -bound, high: bound)
    attentionTarget = generator.uniform([outputs], low: -bound, high: bound)
    bias = Tensor.zeros([outputs])
    self.negativeSlope = negativeSlope
  }

  public func callAsFunction(_ x: Tensor, edges: EdgeList) -> Tensor {
    Self.attend(
      x, edges: edges, weight: linear.weight, attentionSource: attentionSource, attentionTarget: attentionTarget,
      bias: bias, negativeSlope: negativeSlope)
  }

  /// The layer as a function of its weights.
  public static func attend(
    _ x: Tensor, edges: EdgeList, weight: Tensor, attentionSource: Tensor, attentionTarget: Tensor, bias: Tensor,
    negativeSlope: Float = 0.2
  ) -> Tensor {
    check(x.rank == 2 && x.shape[0] == edges.nodes, "GraphAttention: features \(x.shape) for \(edges.nodes) nodes")
    let graph = edges.withOneSelfLoopEach()
    let (sources, targets) = (IndexTensor(graph.sources), IndexTensor(graph.targets))
    let h = TesseraCore.linear(x, weight: weight, bias: nil)
    let width = h.shape[1]
    let fromSource = h.matmul(attentionSource.reshaped([width, 1])).indexSelect(axis: 0, indices: sources)
    let toTarget = h.matmul(attentionTarget.reshaped([width, 1])).indexSelect(axis: 0, indices: targets)
    let raw = fromSource + toTarget  // [E, 1]
    let scores = raw.relu() - negativeSlope * (-raw).relu()
    // Subtract each target's largest score (a constant), exponentiate, normalise per target.
    var largest = [Float](repeating: -.infinity, count: graph.nodes)
    for (e, value) in scores.scalars.enumerated() { largest[graph.targets[e]] = max(largest[graph.targets[e]], value) }
    let shift = Tensor(graph.targets.map { largest[$0] }, shape: [graph.count, 1])
    let exponentials = (scores - shift).exp()  // [E, 1]
    let ones = Tensor([Float](repeating: 1, count: graph.count), shape: [graph.count])
    let totals = weightedScatterAdd(exponentials, weights: ones, indices: graph.targets, count: graph.nodes)
    let weights = (exponentials / totals.indexSelect(axis: 0, indices: targets)).reshaped([graph.count])
    let messages = h.indexSelect(axis: 0, indices: sources)
    return weightedScatterAdd(messages, weights: weights, indices: graph.targets, count: graph.nodes) + bias
  }

  /// Counted FLOPs over a graph of `nodes` nodes and `edges` edges (self-loops included): the
  /// product, the two attention projections per node, per edge the score (an add, the leaky
  /// ReLU's 3), the shifted exponential and its sum (3, the exponential counted as one), the
  /// division, and a multiply–add per feature; the bias.
  public func flops(nodes: Int, edges: Int) -> Int {
    let width = linear.outputCount
    return linear.flops(rows: nodes) + 4 * nodes * width + 8 * edges + 2 * edges * width + nodes * width
  }
}
