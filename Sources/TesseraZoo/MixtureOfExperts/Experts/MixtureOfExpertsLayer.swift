import TesseraCore
import TesseraNN

/// What every mixture-of-experts channel layer shares: a linear router `[E, D]` (no bias), the
/// experts (any ``ExpertActivation``, widths may differ), optional shared experts that see every
/// token, and the dispatch that computes only routed (token, expert) pairs.
/// `[B, T, D] → [B, T, D]` (or `[B, D]` when decoding: each token is its own group).
///
/// Tokens are routed in groups of one sequence: capacities and expert-choice selections count
/// a sequence's tokens, so a sequence's output never depends on the other sequences of the batch.
/// When decoding, each token is a group of its own: a router with a capacity then drops nothing,
/// so decoding matches the parallel form where the parallel form dropped nothing (dropless
/// routers always).
///
/// Each forward pass records, under the layer's path: `expert_load` (tokens computed per
/// expert), `dropped_token_rate` ((token, expert) pairs chosen but over capacity ÷ pairs chosen),
/// `unrouted_token_rate` (tokens that reach no expert ÷ tokens), `router_entropy` (mean entropy
/// of the router's distribution, nats), `max_load_violation` (max load ÷ mean load − 1; Wang
/// et al.'s MaxVio) and `top_expert` (each token's highest-scoring expert, for routing figures). ``cost(batch:time:context:)`` counts the experts' work for the last pass's
/// routing, and reports total and active parameters.
///
/// Auxiliary-loss-free balancing (Wang et al., 2024, "Auxiliary-Loss-Free Load Balancing
/// Strategy for Mixture-of-Experts"): with a `biasUpdateRate` u > 0, a per-expert bias is added
/// to the scores for *selection only*; after each optimizer step (``finishTrainingStep()``) it
/// moves by `u · sign(mean load − load_e)` with the loads of that step's training passes,
/// outside the gradient.
public class MixtureOfExpertsLayer: Module, TrainingStepListener, SparselyActivatedLayer {
  public let router: Linear
  public let experts: [ExpertFeedForward]
  public let shared: ExpertFeedForward?
  /// The per-expert selection bias of auxiliary-loss-free balancing (zeros otherwise). Not a
  /// parameter: no gradient reaches it and the optimizer never moves it.
  public internal(set) var selectionBias: [Float]
  let biasUpdateRate: Float
  let jitter: Float
  /// `.parallel`: the grouped dispatch; `.reference`: the loop over tokens and experts.
  let form: Form
  var jitterNoise: RandomGenerator
  /// Tokens computed per expert in the training passes since the last optimizer step.
  var loadSinceStep: [Int]?
  /// The shape and per-expert load of the last forward pass (for the counted cost).
  public internal(set) var lastRouting: (rows: Int, load: [Int])?

  init(
    width: Int, hiddenWidths: [Int], activation: ExpertActivation, sharedHidden: Int?, biasUpdateRate: Float,
    jitter: Float, form: Form, generator: inout RandomGenerator
  ) {
    self.form = form
    router = Linear(width, hiddenWidths.count, bias: false, generator: &generator)
    experts = hiddenWidths.map {
      ExpertFeedForward(width: width, hidden: $0, activation: activation, generator: &generator)
    }
    shared = sharedHidden.map {
      ExpertFeedForward(width: width, hidden: $0, activation: .swiglu, generator: &generator)
    }
    selectionBias = [Float](repeating: 0, count: hiddenWidths.count)
    self.biasUpdateRate = biasUpdateRate
    self.jitter = jitter
    jitterNoise = RandomGenerator(seed: UInt64(generator.integer(in: 0..<Int(Int32.max))))
  }

  public var expertCount: Int { experts.count }

  /// The router's decision for `logits` `[N, E]`, `N` tokens in `groups` equal groups (subclasses).
  func route(_ logits: Tensor, groups: Int) -> RouterDecision {
    checkFailed("MixtureOfExpertsLayer.route must be overridden")
  }

  /// Adds the router's auxiliary losses to `context` (subclasses).
  func addLosses(_ decision: RouterDecision, logits: Tensor, groups: Int, _ context: inout ForwardContext) {}

  /// Adds the Switch/HF load-balancing loss and the router z-loss at their weights, each only when
  /// its weight is not 0.
  func addBalanceLosses(
    _ decision: RouterDecision, logits: Tensor, loadBalanceWeight: Float, zLossWeight: Float,
    _ context: inout ForwardContext
  ) {
    if loadBalanceWeight != 0 {
      context.addLoss(
        "load_balance", loadBalancingLoss(probabilities: decision.scores, counts: decision.demand),
        weight: loadBalanceWeight)
    }
    if zLossWeight != 0 { context.addLoss("z_loss", routerZLoss(logits: logits), weight: zLossWeight) }
  }

  /// Tokens per expert to count the cost with before any pass of that shape (subclasses).
  func expectedLoad(rows: Int, groups: Int) -> [Int] { [Int](repeating: 0, count: expertCount) }

  func forward(_ x: Tensor, _ context: inout ForwardContext) -> Tensor {
    let width = x.shape[x.rank - 1]
    let tokens = x.reshaped([-1, width])
    let rows = tokens.shape[0]
    let groups = x.rank >= 3 ? x.shape.dropLast(2).reduce(1, *) : rows
    var routerInput = tokens
    if jitter > 0 && context.options.training {
      // Switch Transformer's multiplicative jitter on the router's input, in training only.
      routerInput = tokens * jitterNoise.uniform([rows, width], low: 1 - jitter, high: 1 + jitter)
    }
    let logits = router(routerInput)
    let decision = route(logits, groups: Swift.max(1, groups))
    addLosses(decision, logits: logits, groups: Swift.max(1, groups), &context)
    var output =
      form == .reference
      ? dispatchExpertsReference(tokens, decision.routing, experts: experts)
      : dispatchExperts(tokens, decision.routing, experts: experts)
    if let shared { output = output + shared(tokens) }
    record(decision, rows: rows, &context)
    return output.reshaped(x.shape)
  }

  func record(_ decision: RouterDecision, rows: Int, _ context: inout ForwardContext) {
    let load = decision.routing.load
    lastRouting = (rows, load)
    if context.options.training && biasUpdateRate > 0 {
      loadSinceStep = zip(loadSinceStep ?? [Int](repeating: 0, count: load.count), load).map { $0 + $1 }
    }
    let chosen = decision.demand.reduce(0, +)
    let mean = Double(load.reduce(0, +)) / Double(Swift.max(1, load.count))
    context.record("expert_load", load.map(Double.init))
    context.record("dropped_token_rate", [Double(decision.dropped) / Double(Swift.max(1, chosen))])
    context.record("unrouted_token_rate", [Double(decision.routing.unroutedTokens) / Double(Swift.max(1, rows))])
    let (entropy, top) = withoutGradients { routerRowStatistics(decision.scores) }
    context.record("router_entropy", [entropy])
    context.record("max_load_violation", [mean > 0 ? Double(load.max() ?? 0) / mean - 1 : 0])
    context.record("top_expert", top.map(Double.init))
  }

  /// Moves the selection bias toward balance with the loads of the training passes since the
  /// last step (auxiliary-loss-free balancing); nothing when the rate is 0.
  public func finishTrainingStep() {
    guard biasUpdateRate > 0, let load = loadSinceStep else { return }
    let mean = Float(load.reduce(0, +)) / Float(Swift.max(1, load.count))
    for e in selectionBias.indices {
      let error = mean - Float(load[e])
      selectionBias[e] += biasUpdateRate * (error > 0 ? 1 : error < 0 ? -1 : 0)
    }
    loadSinceStep = nil
  }

  /// Parameters a token uses on average: the router, the shared experts and, per expert, its
  /// parameters × the tokens it computed ÷ tokens (the last pass's routing, else the expected one).
  public var activeParameterCount: Int {
    let load = lastRouting?.load ?? expectedLoad(rows: 1024, groups: 1)
    let rows = lastRouting?.rows ?? 1024
    let routed = zip(experts, load).reduce(0.0) { $0 + Double($1.0.parameterCount) * Double($1.1) }
    return router.parameterCount + (shared?.parameterCount ?? 0) + Int((routed / Double(Swift.max(1, rows))).rounded())
  }

  /// Counted cost over `batch × time` tokens for the routing of the last pass of that shape
  /// (before one, the expected routing): the router's projection and scoring, the experts on the
  /// tokens they computed, the gate weighting and the sum back, and the shared experts.
  public func cost(batch: Int, time: Int, context: CostContext) -> LayerCost {
    let rows = batch * time, width = router.inputCount, count = expertCount
    let load =
      lastRouting.flatMap { $0.rows == rows ? $0.load : nil } ?? expectedLoad(rows: rows, groups: Swift.max(1, batch))
    let slots = load.reduce(0, +)
    // The router's projection, its scores, and one comparison per score to select.
    var flops = router.flops(rows: rows) + scoringFlops(rows: rows) + rows * count * FlopCount.arithmetic
    var activations = 4 * rows * count * 2 + 4 * slots * width * 2
    for (expert, n) in zip(experts, load) where n > 0 {
      flops += expert.flops(rows: n)
      activations += expert.activationBytes(rows: n)
    }
    flops += slots * (width * 2 * FlopCount.arithmetic + gateFlopsPerSlot)
    if let shared {
      flops += shared.flops(rows: rows) + rows * width * FlopCount.arithmetic
      activations += shared.activationBytes(rows: rows)
    }
    var cost = LayerCost(flops: flops, activationBytes: activations, stateBytes: 0)
    cost.parameters = parameterCount
    cost.activeParameters = activeParameterCount
    return cost
  }

  /// FLOPs of the router's scores over `rows` tokens (a softmax over the experts; subclasses
  /// with other scores override).
  func scoringFlops(rows: Int) -> Int { FlopCount.softmax(rows: rows, width: expertCount) }

  /// FLOPs per slot of turning the selected scores into gate weights (renormalising; none when
  /// the gate is the score itself).
  var gateFlopsPerSlot: Int { 0 }
}

/// The forms of a mixture's dispatch: the loop over tokens and experts, and the grouped dispatch.
let dispatchForms: [Form] = [.reference, .parallel]

/// Tokens per expert when `rows` tokens spread evenly over `experts` experts `perToken` times
/// each (the remainder to the first experts), each expert holding at most `capacity` per group.
func evenLoad(rows: Int, experts: Int, perToken: Int, capacityPerGroup: Int? = nil, groups: Int = 1) -> [Int] {
  let total = rows * perToken
  var load = (0..<experts).map { total / experts + ($0 < total % experts ? 1 : 0) }
  if let capacityPerGroup { load = load.map { Swift.min($0, capacityPerGroup * groups) } }
  return load
}
