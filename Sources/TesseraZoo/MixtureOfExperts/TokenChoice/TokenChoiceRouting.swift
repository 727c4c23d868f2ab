import TesseraCore

/// How a token-choice router turns its logits into a selection and gate weights.
public enum TokenChoiceGate: String, Codable, Sendable, CaseIterable {
  /// `p = softmax(logits)` over all experts, then the top-k of `p` (Mixtral; with
  /// `renormalize` the k weights are `p_e / Σ_selected p`, else the raw `p_e` as in GShard).
  case softmaxTopK = "softmax-topk"
  /// The top-k logits, then a softmax over those k alone: the same weights as `softmax-topk`
  /// renormalised (up to rounding), computed without the full softmax.
  case topKSoftmax = "topk-softmax"
  /// `s = σ(logits)` per expert, the top-k of `s` (DeepSeek-V3's affinities; with `renormalize`
  /// the weights are `s_e / Σ_selected s`).
  case sigmoidTopK = "sigmoid-topk"
}

/// Token-choice top-k routing (Shazeer et al., 2017; Mixtral, Jiang et al., 2024): each of the
/// `N` tokens of `logits` `[N, E]` takes its `topK` experts by score (plus `selectionBias[e]`,
/// which changes the choice but not the weights: auxiliary-loss-free balancing), ties to the lower
/// expert. Dropless without a `capacity`; with one, the tokens form `groups` equal groups
/// (sequences) and in each group every expert computes at most `capacity` (token, expert) pairs,
/// claimed as GShard does: all first choices in token order, then all second choices, … — a pair
/// over capacity is dropped (its gate is not given to the others).
public func tokenChoiceRouting(
  logits: Tensor, topK: Int, gate: TokenChoiceGate = .softmaxTopK, renormalize: Bool = true,
  selectionBias: [Float]? = nil, capacity: Int? = nil, groups: Int = 1
) -> RouterDecision {
  let (tokens, experts) = (logits.shape[0], logits.shape[1])
  check(topK >= 1 && topK <= experts, "tokenChoiceRouting: topK \(topK) for \(experts) experts")
  let scores: Tensor
  switch gate {
  case .softmaxTopK, .topKSoftmax: scores = logits.softmax(axis: 1)
  case .sigmoidTopK: scores = logits.sigmoid()
  }
  // Selection on the scores (softmax is monotone, so logits and probabilities rank alike — but a
  // selection bias is added to the scores, as Wang et al. add it to the gating scores).
  let choices = withoutGradients { topColumns(gate == .topKSoftmax ? logits : scores, topK, bias: selectionBias) }
  let selection = IndexTensor(choices, shape: [tokens, topK])
  let gates: Tensor
  switch gate {
  case .topKSoftmax:
    gates = logits.gather(axis: 1, indices: selection).softmax(axis: 1)
  case .softmaxTopK, .sigmoidTopK:
    let picked = scores.gather(axis: 1, indices: selection)
    gates = renormalize ? picked / picked.sum(axis: 1, keepDimensions: true) : picked
  }
  let (kept, dropped) =
    capacity.map { claimCapacity(choices, perToken: topK, experts: experts, capacity: $0, groups: groups) }
    ?? (choices, 0)
  return RouterDecision(
    routing: Routing(tokenChoices: kept, gates: gates, experts: experts), scores: scores, selection: selection,
    demand: expertCounts(choices, experts: experts), dropped: dropped)
}

extension TokenChoiceGate {
  /// Decoded from its name; any other string is refused with the names allowed.
  public init(from decoder: Decoder) throws { self = try Self.decodeChoice(from: decoder) }
}
