import TesseraCore

/// The experts' combined output for tokens `x` `[N, D]` under `routing`:
/// `o_n = Σ_{slots s of n} w_s · expert_{e(s)}(x_n)`, `[N, D]`; a token without a slot gets 0.
///
/// The grouped form does only routed work: the tokens are gathered in slot order (sorted by
/// expert), each expert that has slots runs once — one product per projection — over its
/// contiguous slice (experts of one shape as grouped products, ``ExpertFeedForward/grouped``:
/// all experts' products of a projection in one call, spread over the threads), and the
/// gate-weighted rows are added back to their tokens (in slot order, so
/// the sums have a fixed order: bit-identical for any thread count). No padding to a capacity;
/// an expert without tokens never reaches a kernel. Every step is differentiable (the gathers'
/// and the slices' gradients accumulate in place), so the router learns through `routing.weights`.
public func dispatchExperts(_ x: Tensor, _ routing: Routing, experts: [ExpertFeedForward]) -> Tensor {
  check(x.rank == 2, "dispatchExperts: tokens must be [N, D], got \(x.shape)")
  check(
    routing.tokens == x.shape[0] && routing.experts == experts.count,
    "dispatchExperts: routing for \(routing.tokens) tokens and \(routing.experts) experts; got \(x.shape[0]) tokens and \(experts.count) experts"
  )
  let width = x.shape[1]
  guard routing.slots > 0 else { return Tensor.zeros([routing.tokens, width]) }
  let order = IndexTensor(routing.slotTokens)
  let gathered = x.indexSelect(axis: 0, indices: order)
  let computed: Tensor
  if experts.allSatisfy({ $0.hiddenWidth == experts[0].hiddenWidth && $0.activation == experts[0].activation }) {
    computed = ExpertFeedForward.grouped(gathered, experts, offsets: routing.offsets)
  } else {
    // Experts of different widths: one expert at a time, each over its slice.
    var outputs: [Tensor] = []
    for e in 0..<routing.experts {
      let slots = routing.slots(of: e)
      guard !slots.isEmpty else { continue }
      outputs.append(experts[e](gathered.slice(axis: 0, slots)))
    }
    computed = concatenate(outputs, axis: 0)
  }
  return weightedScatterAdd(computed, weights: routing.weights, indices: routing.slotTokens, count: routing.tokens)
}

/// The specification of ``dispatchExperts(_:_:experts:)``: a loop over tokens, and for each token
/// over its slots in order, running the expert on that one token. Slow; the reference the grouped
/// form is tested against (outputs and every gradient).
public func dispatchExpertsReference(_ x: Tensor, _ routing: Routing, experts: [ExpertFeedForward]) -> Tensor {
  let width = x.shape[1]
  var slotsOfToken = [[Int]](repeating: [], count: routing.tokens)
  for (s, n) in routing.slotTokens.enumerated() { slotsOfToken[n].append(s) }
  var expertOfSlot = [Int](repeating: 0, count: routing.slots)
  for e in 0..<routing.experts { for s in routing.slots(of: e) { expertOfSlot[s] = e } }
  let rows = (0..<routing.tokens).map { n -> Tensor in
    var total = Tensor.zeros([1, width])
    let token = x.slice(axis: 0, n..<(n + 1))
    for s in slotsOfToken[n] {
      total = total + experts[expertOfSlot[s]](token) * routing.weights.slice(axis: 0, s..<(s + 1))
    }
    return total
  }
  return rows.isEmpty ? Tensor.zeros([0, width]) : concatenate(rows, axis: 0)
}
