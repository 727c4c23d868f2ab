import TesseraCore

/// A directed graph of `nodes` nodes as an edge list: edge `e` carries messages from
/// `sources[e]` to `targets[e]` (PyTorch Geometric's `edge_index` rows 0 and 1). Graph layers
/// gather along it and scatter-add back by target: no dense adjacency is ever built.
public struct EdgeList: Sendable, Equatable {
  public let nodes: Int
  public let sources: [Int]
  public let targets: [Int]

  public init(nodes: Int, sources: [Int], targets: [Int]) {
    check(sources.count == targets.count, "EdgeList: \(sources.count) sources and \(targets.count) targets")
    for (s, t) in zip(sources, targets) {
      check(
        (0..<nodes).contains(s) && (0..<nodes).contains(t),
        "EdgeList: edge \(s) → \(t) names a node outside 0..<\(nodes)")
    }
    self.nodes = nodes
    self.sources = sources
    self.targets = targets
  }

  public var count: Int { sources.count }

  /// The edges with exactly one self-loop per node: existing self-loops removed, then one per
  /// node appended in node order (GAT's convention).
  public func withOneSelfLoopEach() -> EdgeList {
    let kept = (0..<count).filter { sources[$0] != targets[$0] }
    return EdgeList(
      nodes: nodes, sources: kept.map { sources[$0] } + Array(0..<nodes),
      targets: kept.map { targets[$0] } + Array(0..<nodes))
  }

  /// The edges with a self-loop added for every node that has none, existing ones kept (GCN's
  /// convention: a loop is never doubled).
  public func withMissingSelfLoops() -> EdgeList {
    var looped = [Bool](repeating: false, count: nodes)
    for (s, t) in zip(sources, targets) where s == t { looped[s] = true }
    let missing = (0..<nodes).filter { !looped[$0] }
    return EdgeList(nodes: nodes, sources: sources + missing, targets: targets + missing)
  }

  /// Edges into each node.
  public var inDegrees: [Int] {
    var degree = [Int](repeating: 0, count: nodes)
    for t in targets { degree[t] += 1 }
    return degree
  }
}
