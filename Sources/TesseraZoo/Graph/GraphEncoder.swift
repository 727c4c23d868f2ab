import TesseraCore
import TesseraNN

/// The shape of a ``GraphEncoder``.
public struct GraphEncoderSpec: Codable, Sendable, Equatable {
  /// The message-passing layer of every block.
  public enum Layer: String, Codable, Sendable, CaseIterable {
    /// ``GraphConvolution`` (Kipf & Welling, 2017).
    case gcn
    /// ``GraphAttention`` (Veličković et al., 2018), one head.
    case gat
  }

  public var nodes: Int
  public var width: Int
  public var layers: Int
  public var layer: Layer
  /// Nodes known only by their edges: they start from one shared learned vector instead of their
  /// own, so what the encoder says about them must come from their neighbours (and a fact about
  /// such a node that training never asked is still read from the graph).
  public var anonymous: [Int]

  public init(nodes: Int, width: Int, layers: Int = 2, layer: Layer = .gcn, anonymous: [Int] = []) {
    (self.nodes, self.width, self.layers, self.layer, self.anonymous) = (nodes, width, layers, layer, anonymous)
  }

  enum CodingKeys: String, CodingKey { case nodes, width, layers, layer, anonymous }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    nodes = try c.decode(Int.self, forKey: .nodes)
    width = try c.decode(Int.self, forKey: .width)
    layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? 2
    layer = try c.decodeIfPresent(Layer.self, forKey: .layer) ?? .gcn
    anonymous = try c.decodeIfPresent([Int].self, forKey: .anonymous) ?? []
  }
}

/// Node vectors of a fixed graph: a learned vector per node (one shared vector for the
/// ``GraphEncoderSpec/anonymous`` nodes), then `layers` pre-norm residual
/// message-passing blocks, `h ← h + ReLU(layer(LayerNorm(h)))` over the ``EdgeList``, and a
/// final layer norm. `() → [nodes, width]`. The edges are gathered by source and scatter-added by
/// target (no dense adjacency).
public final class GraphEncoder: Module {
  public let spec: GraphEncoderSpec
  public let edges: EdgeList
  public let embedding: Embedding
  public let norms: [Norm]
  public let convolutions: [GraphConvolution]
  public let attentions: [GraphAttention]
  public let norm: Norm
  /// Each node's row of the embedding (the shared row for anonymous nodes); nil when none is.
  let inputRows: IndexTensor?

  public init(_ spec: GraphEncoderSpec, edges: EdgeList, generator: inout RandomGenerator) {
    check(edges.nodes == spec.nodes, "GraphEncoder: \(edges.nodes) nodes in the edges, \(spec.nodes) in the spec")
    check(spec.width >= 1 && spec.layers >= 0, "GraphEncoder: width \(spec.width), layers \(spec.layers)")
    check(
      spec.anonymous.allSatisfy { (0..<spec.nodes).contains($0) },
      "GraphEncoder: an anonymous node is outside 0..<\(spec.nodes)")
    self.spec = spec
    self.edges = edges
    let shared = Set(spec.anonymous)
    inputRows = shared.isEmpty ? nil : IndexTensor((0..<spec.nodes).map { shared.contains($0) ? spec.nodes : $0 })
    embedding = Embedding(spec.nodes + (shared.isEmpty ? 0 : 1), spec.width, generator: &generator)
    var norms: [Norm] = [], convolutions: [GraphConvolution] = [], attentions: [GraphAttention] = []
    for _ in 0..<spec.layers {
      norms.append(Norm(.layerNorm, spec.width))
      switch spec.layer {
      case .gcn: convolutions.append(GraphConvolution(spec.width, spec.width, generator: &generator))
      case .gat: attentions.append(GraphAttention(spec.width, spec.width, generator: &generator))
      }
    }
    self.norms = norms
    self.convolutions = convolutions
    self.attentions = attentions
    norm = Norm(.layerNorm, spec.width)
  }

  /// Every node's vector `[nodes, width]`.
  public func callAsFunction() -> Tensor {
    var h = inputRows.map { embedding($0) } ?? embedding.weight
    for (i, layerNorm) in norms.enumerated() {
      let x = layerNorm(h)
      let message = spec.layer == .gcn ? convolutions[i](x, edges: edges) : attentions[i](x, edges: edges)
      h = h + message.relu()
    }
    return norm(h)
  }

  /// Counted FLOPs of one pass over the whole graph (norms, message passing, ReLU and residual).
  public var flops: Int {
    let (n, d) = (spec.nodes, spec.width)
    let looped = spec.layer == .gcn ? edges.withMissingSelfLoops().count : edges.withOneSelfLoopEach().count
    let layer =
      spec.layer == .gcn
      ? convolutions.first.map { $0.flops(nodes: n, edges: looped) } ?? 0
      : attentions.first.map { $0.flops(nodes: n, edges: looped) } ?? 0
    return spec.layers * (norm.flops(rows: n) + layer + 2 * n * d) + norm.flops(rows: n)
  }
}
