import TesseraCore

/// What a router decided for one group of tokens: the ``Routing`` the dispatch runs, the scores
/// its balance losses read, and the discrete choices (which the reference vectors check exactly).
public struct RouterDecision {
  public var routing: Routing
  /// The router's per-token distribution (softmax probabilities, or sigmoid affinities) `[N, E]`.
  public var scores: Tensor
  /// Token choice: each token's experts in rank order, `[N, k]`. Expert choice: each expert's
  /// tokens in rank order, `[E, c]`.
  public var selection: IndexTensor
  /// Tokens each expert was chosen by before any capacity limit (the `f_e` of the balance loss).
  public var demand: [Int]
  /// (token, expert) pairs chosen but not computed (over capacity).
  public var dropped: Int

  public init(routing: Routing, scores: Tensor, selection: IndexTensor, demand: [Int], dropped: Int = 0) {
    self.routing = routing
    self.scores = scores
    self.selection = selection
    self.demand = demand
    self.dropped = dropped
  }
}

/// Each row's `k` best columns of `values` `[N, E]` (plus `bias[e]` when given), best first, ties
/// to the lower column.
func topColumns(_ values: Tensor, _ k: Int, bias: [Float]? = nil) -> [Int] {
  let (rows, columns) = (values.shape[0], values.shape[1])
  return values.withScalars { p in
    var out: [Int] = []
    out.reserveCapacity(rows * k)
    for n in 0..<rows {
      let row = p.baseAddress! + n * columns
      out += rankedDescending(0..<columns) { row[$0] + (bias?[$0] ?? 0) }.prefix(k)
    }
    return out
  }
}

/// Tokens chosen per expert from per-token choices (`choices[n·k + j]`, −1 none).
func expertCounts(_ choices: [Int], experts: Int) -> [Int] {
  var counts = [Int](repeating: 0, count: experts)
  for e in choices where e >= 0 { counts[e] += 1 }
  return counts
}
