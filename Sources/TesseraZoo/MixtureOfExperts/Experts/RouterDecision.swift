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
/// to the lower column (``rankedDescending(_:by:)``'s order): ``bestDescending(_:count:into:by:)``
/// per row, rows spread over the threads.
func topColumns(_ values: Tensor, _ k: Int, bias: [Float]? = nil) -> [Int] {
  let (rows, columns) = (values.shape[0], values.shape[1])
  precondition(k <= columns)
  var out = [Int](repeating: 0, count: rows * k)
  let contiguous = values.contiguous()
  contiguous.withScalars { p in
    out.withUnsafeMutableBufferPointer { picks in
      let picks = picks.baseAddress!
      bias.withUnsafeBufferPointerIfPresent { b in
        Runtime.parallelFor(rows, grain: Swift.max(1, 4096 / Swift.max(1, columns))) { range in
          var best = [Int](repeating: 0, count: k)
          for n in range {
            let row = p.baseAddress! + n * columns
            _ = bestDescending(0..<columns, count: k, into: &best) { row[$0] + (b?[$0] ?? 0) }
            for j in 0..<k { picks[n * k + j] = best[j] }
          }
        }
      }
    }
  }
  return out
}

extension Optional where Wrapped == [Float] {
  /// The array's buffer, or nil.
  fileprivate func withUnsafeBufferPointerIfPresent<R>(_ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
    switch self {
    case .some(let array): return array.withUnsafeBufferPointer { body($0) }
    case .none: return body(nil)
    }
  }
}

/// Capacity as GShard and Switch claim it: per-token choices `choices[n·k + j]` in `groups` equal
/// groups (sequences); in each group every expert takes at most `capacity` (token, expert) pairs,
/// claimed rank by rank (all first choices in token order, then all second choices, …). The
/// choices with the pairs over capacity set to −1, and how many were dropped.
func claimCapacity(_ choices: [Int], perToken k: Int, experts: Int, capacity: Int, groups: Int) -> (
  kept: [Int], dropped: Int
) {
  let tokens = choices.count / max(1, k)
  check(groups >= 1 && tokens % groups == 0, "capacity: \(tokens) tokens do not form \(groups) equal groups")
  let length = tokens / groups
  var kept = choices
  var dropped = 0
  for g in 0..<groups {
    var used = [Int](repeating: 0, count: experts)
    for j in 0..<k {
      for n in (g * length)..<((g + 1) * length) {
        let e = choices[n * k + j]
        if used[e] < capacity {
          used[e] += 1
        } else {
          kept[n * k + j] = -1
          dropped += 1
        }
      }
    }
  }
  return (kept, dropped)
}

/// Tokens chosen per expert from per-token choices (`choices[n·k + j]`, −1 none).
func expertCounts(_ choices: [Int], experts: Int) -> [Int] {
  var counts = [Int](repeating: 0, count: experts)
  for e in choices where e >= 0 { counts[e] += 1 }
  return counts
}
