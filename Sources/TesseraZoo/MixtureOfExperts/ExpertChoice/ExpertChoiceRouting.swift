import Foundation
import TesseraCore

/// Expert-choice routing (Zhou et al., 2022, "Mixture-of-Experts with Expert Choice Routing";
/// flaxformer's `ExpertsChooseMaskedRouter`): `p = softmax(logits)` over the experts of each of
/// the `N` tokens of `logits` `[N, E]`; in each of `groups` equal groups (sequences), every expert
/// takes the `capacity` tokens with the largest `p_ne` (ties to the lower token), with gate `p_ne`
/// (not renormalised). A token may be taken by 0 … E experts. Every expert reads the whole
/// group, so a token's output depends on later tokens: not causal.
/// `selection` `[groups · E, capacity]`: expert `e` of group `g` at row `g·E + e`, best first.
public func expertChoiceRouting(logits: Tensor, capacity: Int, groups: Int = 1) -> RouterDecision {
  let (tokens, experts) = (logits.shape[0], logits.shape[1])
  check(groups >= 1 && tokens % groups == 0, "expertChoiceRouting: \(tokens) tokens do not form \(groups) equal groups")
  let length = tokens / groups
  check(capacity >= 0 && capacity <= length, "expertChoiceRouting: capacity \(capacity) for groups of \(length)")
  let probabilities = logits.softmax(axis: 1)
  var picks = [Int](repeating: 0, count: groups * experts * capacity)
  withoutGradients {
    probabilities.withScalars { p in
      for g in 0..<groups {
        for e in 0..<experts {
          let ranked = rankedDescending((g * length)..<((g + 1) * length)) { p[$0 * experts + e] }
          for j in 0..<capacity { picks[(g * experts + e) * capacity + j] = ranked[j] }
        }
      }
    }
  }
  // Slots expert by expert (all groups), each expert's tokens in token order.
  var offsets = [0], slotTokens: [Int] = [], gateIndex: [Int] = []
  var demand = [Int](repeating: 0, count: experts)
  for e in 0..<experts {
    var mine: [Int] = []
    for g in 0..<groups { mine += picks[((g * experts + e) * capacity)..<((g * experts + e + 1) * capacity)] }
    mine.sort()
    slotTokens += mine
    gateIndex += mine.map { $0 * experts + e }
    demand[e] = mine.count
    offsets.append(slotTokens.count)
  }
  let routing = Routing(
    tokens: tokens, experts: experts, slotTokens: slotTokens, offsets: offsets, gates: probabilities,
    gateIndex: gateIndex)
  return RouterDecision(
    routing: routing, scores: probabilities, selection: IndexTensor(picks, shape: [groups * experts, capacity]),
    demand: demand)
}

/// Expert choice's capacity for a group of `tokens`: `round(tokens · factor ÷ experts)` (half to
/// even, as Python's `round`), between 1 and `tokens`.
public func expertChoiceCapacity(tokens: Int, experts: Int, factor: Double) -> Int {
  let c = Int((Double(tokens) * factor / Double(experts)).rounded(.toNearestOrEven))
  return Swift.min(Swift.max(c, 1), Swift.max(tokens, 1))
}
