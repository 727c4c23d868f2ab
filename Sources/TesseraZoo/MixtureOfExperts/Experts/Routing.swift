import TesseraCore

/// A router's decisions over `tokens` tokens and `experts` experts, as the dispatch runs them:
/// one *slot* per (token, expert) pair that is computed, the slots sorted by expert (stably:
/// within an expert, in token order), so each expert's tokens are one contiguous slice.
///
/// A token may have no slot (dropped by capacity, or chosen by no expert in expert-choice
/// routing): its expert output is zero. An expert may have no slot: it is not run.
public struct Routing {
  public let tokens: Int
  public let experts: Int
  /// The token of each slot, expert by expert.
  public let slotTokens: [Int]
  /// Expert `e`'s slots are `offsets[e] ..< offsets[e + 1]`; `offsets.count == experts + 1`.
  public let offsets: [Int]
  /// The gate weight of each slot, `[slots]` (differentiable: the router learns through it).
  public let weights: Tensor

  /// The number of slots.
  public var slots: Int { slotTokens.count }

  /// Tokens routed to each expert.
  public var load: [Int] { (0..<experts).map { offsets[$0 + 1] - offsets[$0] } }

  /// The slots of expert `e`.
  public func slots(of expert: Int) -> Range<Int> { offsets[expert]..<offsets[expert + 1] }

  /// Tokens that have no slot.
  public var unroutedTokens: Int {
    var seen = [Bool](repeating: false, count: tokens)
    for n in slotTokens { seen[n] = true }
    return seen.filter { !$0 }.count
  }

  /// Routing from per-token choices: `choices[n·k + j]` is token `n`'s `j`-th expert (−1: none,
  /// e.g. dropped) with gate `gates[n, j]` (`gates` `[tokens, k]`).
  public init(tokenChoices choices: [Int], gates: Tensor, experts: Int) {
    let tokens = gates.shape[0], k = gates.rank == 2 ? gates.shape[1] : 1
    check(choices.count == tokens * k, "Routing: \(choices.count) choices for \(tokens) tokens × \(k)")
    var count = [Int](repeating: 0, count: experts + 1)
    for e in choices where e >= 0 {
      check(e < experts, "Routing: expert \(e) of \(experts)")
      count[e + 1] += 1
    }
    for e in 0..<experts { count[e + 1] += count[e] }
    var next = count
    var slotTokens = [Int](repeating: 0, count: count[experts])
    var gateIndex = [Int](repeating: 0, count: count[experts])
    for n in 0..<tokens {
      for j in 0..<k {
        let e = choices[n * k + j]
        guard e >= 0 else { continue }
        slotTokens[next[e]] = n
        gateIndex[next[e]] = n * k + j
        next[e] += 1
      }
    }
    self.init(
      tokens: tokens, experts: experts, slotTokens: slotTokens, offsets: count, gates: gates, gateIndex: gateIndex)
  }

  /// Routing from per-expert choices: `choices[e·c + j]` is expert `e`'s `j`-th token with gate
  /// `gates[e, j]` (`gates` `[experts, c]`). Within an expert the slots follow token order.
  public init(expertChoices choices: [Int], gates: Tensor, tokens: Int) {
    let experts = gates.shape[0], c = gates.shape[1]
    check(choices.count == experts * c, "Routing: \(choices.count) choices for \(experts) experts × \(c)")
    var offsets = [0]
    var slotTokens: [Int] = [], gateIndex: [Int] = []
    slotTokens.reserveCapacity(choices.count)
    for e in 0..<experts {
      let picked = (0..<c).map { (token: choices[e * c + $0], gate: e * c + $0) }.filter { $0.token >= 0 }
        .sorted { $0.token < $1.token }
      for p in picked {
        check(p.token < tokens, "Routing: token \(p.token) of \(tokens)")
        slotTokens.append(p.token)
        gateIndex.append(p.gate)
      }
      offsets.append(slotTokens.count)
    }
    self.init(
      tokens: tokens, experts: experts, slotTokens: slotTokens, offsets: offsets, gates: gates, gateIndex: gateIndex)
  }

  init(tokens: Int, experts: Int, slotTokens: [Int], offsets: [Int], gates: Tensor, gateIndex: [Int]) {
    self.tokens = tokens
    self.experts = experts
    self.slotTokens = slotTokens
    self.offsets = offsets
    weights =
      gateIndex.isEmpty
      ? Tensor.zeros([0]) : gates.reshaped([-1]).indexSelect(axis: 0, indices: IndexTensor(gateIndex))
  }
}
