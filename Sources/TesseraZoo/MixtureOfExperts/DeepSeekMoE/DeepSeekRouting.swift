import TesseraCore

/// DeepSeek-V3's gate (DeepSeek-AI, 2024, "DeepSeek-V3 Technical Report", §2.1.2; its
/// `inference/model.py` `Gate`): affinities `s = σ(logits)` for the `N` tokens of `logits`
/// `[N, E]`; selection on `b = s + selectionBias` — the experts form `groups` equal groups, each
/// group scores the sum of its two largest `b`, the `topGroups` best groups are kept, and the
/// `topK` largest `b` among their experts are chosen (ties to the lower group / expert); the gates
/// are the chosen `s` (never the bias) divided by their sum, times `routeScale`.
public func deepSeekRouting(
  logits: Tensor, topK: Int, groups: Int = 1, topGroups: Int = 1, routeScale: Float = 1, selectionBias: [Float]? = nil
) -> RouterDecision {
  let (tokens, experts) = (logits.shape[0], logits.shape[1])
  check(groups >= 1 && experts % groups == 0, "deepSeekRouting: \(experts) experts do not form \(groups) groups")
  check(topGroups >= 1 && topGroups <= groups, "deepSeekRouting: topGroups \(topGroups) of \(groups) groups")
  let perGroup = experts / groups
  check(
    topK >= 1 && topK <= topGroups * perGroup, "deepSeekRouting: topK \(topK) from \(topGroups) × \(perGroup) experts")
  let scores = logits.sigmoid()
  let choices: [Int] = withoutGradients {
    scores.withScalars { s in
      var out: [Int] = []
      out.reserveCapacity(tokens * topK)
      for n in 0..<tokens {
        let biased = (0..<experts).map { s[n * experts + $0] + (selectionBias?[$0] ?? 0) }
        var allowed = Array(0..<experts)
        if groups > 1 {
          let groupScores = (0..<groups).map { g -> Float in
            rankedDescending((g * perGroup)..<((g + 1) * perGroup)) { biased[$0] }.prefix(2).reduce(0) {
              $0 + biased[$1]
            }
          }
          let kept = rankedDescending(0..<groups) { groupScores[$0] }.prefix(topGroups).sorted()
          allowed = kept.flatMap { Array(($0 * perGroup)..<(($0 + 1) * perGroup)) }
        }
        out += rankedDescending(allowed) { biased[$0] }.prefix(topK)
      }
      return out
    }
  }
  let selection = IndexTensor(choices, shape: [tokens, topK])
  let picked = scores.gather(axis: 1, indices: selection)
  let gates = picked / picked.sum(axis: 1, keepDimensions: true) * routeScale
  return RouterDecision(
    routing: Routing(tokenChoices: choices, gates: gates, experts: experts), scores: scores, selection: selection,
    demand: expertCounts(choices, experts: experts))
}
