import TesseraCore
import TesseraNN

/// A graph model and a tiny language model together: the ``GraphEncoder``'s vector of each entity
/// a query names (the tokens at `entityPositions`), projected to the language model's width, is
/// placed before the query's token embeddings as a prefix (``LanguageModel/forward(_:prefix:options:)``),
/// so the language model answers relation queries by reading the graph rather than only its own
/// weights. Tokens `[B, T]` → logits `[B, T, vocabulary]`.
public final class GraphPrefixLanguageModel: Module {
  public let encoder: GraphEncoder
  public let projection: Linear
  public let language: LanguageModel
  /// Positions of the query whose tokens name entities (one prefix vector each, in this order).
  public let entityPositions: [Int]
  /// The node each token names (−1: none).
  public let nodeOfToken: [Int]

  public init(
    graph: GraphEncoderSpec, edges: EdgeList, language: ModelSpec, entityPositions: [Int] = [0], nodeOfToken: [Int],
    generator: inout RandomGenerator
  ) throws {
    check(!entityPositions.isEmpty, "GraphPrefixLanguageModel: name at least one entity position")
    encoder = GraphEncoder(graph, edges: edges, generator: &generator)
    projection = Linear(graph.width, language.width, generator: &generator)
    self.language = try LanguageModel(language, generator: &generator)
    self.entityPositions = entityPositions
    self.nodeOfToken = nodeOfToken
  }

  /// Every node's vector (what inference can compute once).
  public func nodeVectors() -> Tensor { encoder() }

  /// The prefix `[B, entities, D]` of `tokens` `[B, T]`.
  public func prefix(_ tokens: IndexTensor, nodeVectors: Tensor? = nil) -> Tensor {
    let (b, t) = (tokens.shape[0], tokens.shape[1])
    var nodes: [Int] = []
    for row in 0..<b {
      for position in entityPositions {
        check(position < t, "GraphPrefixLanguageModel: entity position \(position) of a query of \(t) tokens")
        let token = tokens.values[row * t + position]
        let node = token < nodeOfToken.count ? nodeOfToken[token] : -1
        check(node >= 0, "GraphPrefixLanguageModel: token \(token) at position \(position) names no node of the graph")
        nodes.append(node)
      }
    }
    let h = nodeVectors ?? encoder()
    return projection(h.indexSelect(axis: 0, indices: IndexTensor(nodes))).reshaped([
      b, entityPositions.count, projection.outputCount,
    ])
  }

  public func forward(
    _ tokens: IndexTensor, nodeVectors: Tensor? = nil, options: ForwardOptions = ForwardOptions()
  ) -> ModelOutput {
    language.forward(tokens, prefix: prefix(tokens, nodeVectors: nodeVectors), options: options)
  }

  public var label: String { "gnn+" + language.label }
}
