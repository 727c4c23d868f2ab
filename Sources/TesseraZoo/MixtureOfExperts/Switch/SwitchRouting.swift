import TesseraCore

/// Switch Transformer's top-1 routing with a capacity (Fedus et al., 2022; flaxformer's
/// `TokensChooseMaskedRouter` with k = 1): `p = softmax(logits)` for the `N` tokens of `logits`
/// `[N, E]`, each token's expert is `argmax p` (ties to the lower expert) with gate `p` itself (not
/// renormalised). The tokens form `groups` equal groups (sequences); within a group, tokens claim
/// their expert's `capacity` slots in token order, and a token whose expert is full is dropped: its
/// expert output is zero (the block's residual carries it). `capacity` nil: dropless.
/// `selection` `[N, 1]` holds every token's expert, dropped or not; `demand` counts before dropping.
public func switchRouting(logits: Tensor, capacity: Int?, groups: Int = 1) -> RouterDecision {
  let (tokens, experts) = (logits.shape[0], logits.shape[1])
  check(groups >= 1 && tokens % groups == 0, "switchRouting: \(tokens) tokens do not form \(groups) equal groups")
  let probabilities = logits.softmax(axis: 1)
  let chosen = withoutGradients { topColumns(probabilities, 1) }
  let (kept, dropped) =
    capacity.map { claimCapacity(chosen, perToken: 1, experts: experts, capacity: $0, groups: groups) } ?? (chosen, 0)
  let selection = IndexTensor(chosen, shape: [tokens, 1])
  let gates = probabilities.gather(axis: 1, indices: selection)
  return RouterDecision(
    routing: Routing(tokenChoices: kept, gates: gates, experts: experts), scores: probabilities,
    selection: selection, demand: expertCounts(chosen, experts: experts), dropped: dropped)
}

/// Switch's expert capacity for a group of `tokens`: `⌊tokens · factor ÷ experts⌋`, at least
/// `minimum` (flaxformer's `min_expert_capacity`, 4).
public func switchCapacity(tokens: Int, experts: Int, factor: Double, minimum: Int = 4) -> Int {
  Swift.max(Int((Double(tokens) * factor / Double(experts)).rounded(.down)), minimum)
}
