import TesseraCore
import TesseraNN

/// Classifies pairs of a graph's nodes (link classification: are two products compatible?) from
/// their ``GraphEncoder`` vectors: `[h_a + h_b, h_a ⊙ h_b]` (the same for `(a, b)` and `(b, a)`)
/// through a ReLU hidden layer to `classes` logits. The pair is read from tokens `[B, T]` at
/// positions 0 and 1, each token mapped to its node; the head's logits are `[B, classes]` under
/// `head`.
///
/// The node vectors depend only on the graph and the weights, so inference may compute them once
/// (``nodeVectors()``) and pass them to every query.
public final class GraphPairClassifier: Module {
  public let encoder: GraphEncoder
  public let hidden: Linear
  public let output: Linear
  public let head: String
  /// The node each token names (−1: none).
  public let nodeOfToken: [Int]

  public init(
    _ spec: GraphEncoderSpec, edges: EdgeList, classes: Int, head: String, nodeOfToken: [Int],
    generator: inout RandomGenerator
  ) {
    check(classes >= 2, "GraphPairClassifier: \(classes) classes")
    encoder = GraphEncoder(spec, edges: edges, generator: &generator)
    hidden = Linear(2 * spec.width, spec.width, generator: &generator)
    output = Linear(spec.width, classes, generator: &generator)
    self.head = head
    self.nodeOfToken = nodeOfToken
  }

  /// Every node's vector (what inference can compute once).
  public func nodeVectors() -> Tensor { encoder() }

  /// Logits `[B, classes]` for the pairs at positions 0 and 1 of `tokens` `[B, T]`.
  public func callAsFunction(_ tokens: IndexTensor, nodeVectors: Tensor? = nil) -> Tensor {
    check(tokens.rank == 2 && tokens.shape[1] >= 2, "GraphPairClassifier: tokens \(tokens.shape): a pair is two tokens")
    let (b, t) = (tokens.shape[0], tokens.shape[1])
    func nodes(_ position: Int) -> IndexTensor {
      IndexTensor(
        (0..<b).map { row in
          let token = tokens.values[row * t + position]
          let node = token < nodeOfToken.count ? nodeOfToken[token] : -1
          check(node >= 0, "GraphPairClassifier: token \(token) at position \(position) names no node of the graph")
          return node
        })
    }
    let h = nodeVectors ?? encoder()
    let (a, c) = (h.indexSelect(axis: 0, indices: nodes(0)), h.indexSelect(axis: 0, indices: nodes(1)))
    return output(hidden(concatenate([a + c, a * c], axis: 1)).relu())
  }

  /// Counted FLOPs of `batch` queries: the pair features, the two layers and the ReLU (the node
  /// vectors not counted: see ``GraphEncoder/flops``).
  public func flops(batch: Int) -> Int {
    let width = encoder.spec.width
    return 2 * batch * width + hidden.flops(rows: batch) + batch * width + output.flops(rows: batch)
  }
}
