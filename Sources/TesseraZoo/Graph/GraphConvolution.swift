import TesseraCore
import TesseraNN

/// A graph convolution (Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional
/// Networks", ICLR 2017) over an ``EdgeList``: node features `[N, F_in] → [N, F_out]`,
///
///     o_i = Σ_{j → i} d_j^{-1/2} d_i^{-1/2} (W x_j) + b,
///
/// over the edges with a self-loop added where a node has none, `d` the in-degree counting that
/// loop (PyTorch Geometric's `GCNConv`: on a directed graph the in-degree is used for both ends).
/// The messages are gathered by source and scatter-added by target.
public final class GraphConvolution: Module {
  public let linear: Linear
  @Parameter public var bias: Tensor

  public init(_ inputs: Int, _ outputs: Int, generator: inout RandomGenerator) {
    linear = Linear(inputs, outputs, bias: false, generator: &generator)
    bias = Tensor.zeros([outputs])
  }

  public func callAsFunction(_ x: Tensor, edges: EdgeList) -> Tensor {
    Self.convolve(x, edges: edges, weight: linear.weight, bias: bias)
  }

  /// The layer as a function of its weights (`weight` `[F_out, F_in]`, `bias` `[F_out]`).
  public static func convolve(_ x: Tensor, edges: EdgeList, weight: Tensor, bias: Tensor) -> Tensor {
    check(x.rank == 2 && x.shape[0] == edges.nodes, "GraphConvolution: features \(x.shape) for \(edges.nodes) nodes")
    let looped = edges.withMissingSelfLoops()
    let scale = looped.inDegrees.map { $0 > 0 ? 1 / Float($0).squareRoot() : 0 }
    let norms = zip(looped.sources, looped.targets).map { scale[$0] * scale[$1] }
    let h = TesseraCore.linear(x, weight: weight, bias: nil)
    let messages = h.indexSelect(axis: 0, indices: IndexTensor(looped.sources))
    return weightedScatterAdd(
      messages, weights: Tensor(norms, shape: [norms.count]), indices: looped.targets, count: edges.nodes)
      + bias
  }

  /// FLOPs over a graph of `nodes` nodes and `edges` edges (self-loops included): the product and
  /// a multiply–add per edge and feature, the bias.
  public func flops(nodes: Int, edges: Int) -> Int {
    linear.flops(rows: nodes) + 2 * edges * linear.outputCount + nodes * linear.outputCount
  }
}
