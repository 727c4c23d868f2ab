import Foundation
import Testing
import TesseraCore
import TesseraNN
import TesseraZoo
import _TestSupport

// Mixtures of experts: the routers on their authors' vectors (through GoldenTests' table), the
// grouped dispatch against the loop over tokens and experts, and the layers' training behaviour.

// MARK: - The golden files' ops

/// How a golden form combines the experts: the grouped dispatch or the reference loop.
typealias ExpertCombination = @Sendable (Tensor, Routing, [ExpertFeedForward]) -> Tensor

/// A golden MoE op: its file's tensor names, and how to compute them with a given dispatch.
struct GoldenMixture: Sendable {
  let inputs: [String]
  var constants: [String] = []
  let outputs: [String]
  let exact: Set<String>
  let addedLosses: [String]
  let run: @Sendable ([Tensor], ExpertCombination) -> [Tensor]
}

/// The grouped dispatch and the reference loop, each as a golden form of `mixture`.
func mixtureForms(_ mixture: GoldenMixture) -> [GoldenForm] {
  let combinations: [(String, ExpertCombination)] = [
    ("grouped", { dispatchExperts($0, $1, experts: $2) }),
    ("reference", { dispatchExpertsReference($0, $1, experts: $2) }),
  ]
  return combinations.map { name, combine in
    GoldenForm(
      name, inputs: mixture.inputs, constants: mixture.constants, outputs: mixture.outputs, exact: mixture.exact,
      addedLosses: mixture.addedLosses
    ) { x in mixture.run(x, combine) }
  }
}

/// Experts whose weights are the slices of stacked tensors in PyTorch's layout (`gate`, `up`
/// `[E, F, D]`, `down` `[E, D, F]`), so gradients reach the stacked tensors.
func stackedExperts(gate: Tensor?, up: Tensor, down: Tensor, _ activation: ExpertActivation) -> [ExpertFeedForward] {
  let (experts, hidden, width) = (up.shape[0], up.shape[1], up.shape[2])
  var rng = RandomGenerator(seed: 0)
  return (0..<experts).map { e in
    let expert = ExpertFeedForward(width: width, hidden: hidden, activation: activation, generator: &rng)
    if let gate { expert.gate!.weight = gate.select(axis: 0, index: e) }
    expert.up.weight = up.select(axis: 0, index: e)
    expert.down.weight = down.select(axis: 0, index: e)
    return expert
  }
}

/// Mixtral's top-2 of 4 SwiGLU experts with HF's load-balancing loss.
let goldenTokenChoice = GoldenMixture(
  inputs: ["x", "w_router", "w1", "w2", "w3"], outputs: ["o", "router_logits", "indices", "aux_loss"],
  exact: ["indices"], addedLosses: ["aux_loss"]
) { x, combine in
  let logits = linear(x[0], weight: x[1])
  let decision = tokenChoiceRouting(logits: logits, topK: 2)
  let o = combine(x[0], decision.routing, stackedExperts(gate: x[2], up: x[4], down: x[3], .swiglu))
  return [
    o, logits, decision.selection.asTensor, loadBalancingLoss(probabilities: decision.scores, counts: decision.demand),
  ]
}

/// Switch's top-1 of 4 ReLU experts at capacity factor 1, with its load-balancing loss.
let goldenSwitch = GoldenMixture(
  inputs: ["x", "w_router", "wi", "wo"], constants: ["capacity"],
  outputs: ["o", "router_logits", "indices", "kept", "aux_loss"], exact: ["indices", "kept"], addedLosses: ["aux_loss"]
) { x, combine in
  let tokens = x[0].shape[0], experts = x[1].shape[0]
  let capacity = switchCapacity(tokens: tokens, experts: experts, factor: 1)
  #expect(Float(capacity) == x[4].scalar, "Switch capacity \(capacity), the file's \(x[4].scalar)")
  let logits = linear(x[0], weight: x[1])
  let decision = switchRouting(logits: logits, capacity: capacity)
  let o = combine(x[0], decision.routing, stackedExperts(gate: nil, up: x[2], down: x[3], .relu))
  var kept = [Float](repeating: 0, count: tokens)
  for n in decision.routing.slotTokens { kept[n] = 1 }
  return [
    o, logits, decision.selection.asTensor, Tensor(kept),
    loadBalancingLoss(probabilities: decision.scores, counts: decision.demand),
  ]
}

/// Expert choice: 4 SwiGLU experts each taking its top-c tokens, with the router z-loss.
let goldenExpertChoice = GoldenMixture(
  inputs: ["x", "w_router", "w1", "w2", "w3"], constants: ["capacity"],
  outputs: ["o", "router_logits", "indices", "z_loss"], exact: ["indices"], addedLosses: ["z_loss"]
) { x, combine in
  let capacity = expertChoiceCapacity(tokens: x[0].shape[0], experts: x[1].shape[0], factor: 1)
  #expect(Float(capacity) == x[5].scalar, "expert-choice capacity \(capacity), the file's \(x[5].scalar)")
  let logits = linear(x[0], weight: x[1])
  let decision = expertChoiceRouting(logits: logits, capacity: capacity)
  let o = combine(x[0], decision.routing, stackedExperts(gate: x[2], up: x[4], down: x[3], .swiglu))
  return [o, logits, decision.selection.asTensor, routerZLoss(logits: logits)]
}

/// DeepSeek-V3: 2 shared + 16 routed experts in 4 groups, the selection-only bias, the
/// sequence-wise balance loss.
let goldenDeepSeek = GoldenMixture(
  inputs: ["x", "w_router", "w1", "w2", "w3", "ws1", "ws2", "ws3"], constants: ["e_bias"],
  outputs: ["o", "router_logits", "indices", "aux_loss"], exact: ["indices"], addedLosses: ["aux_loss"]
) { x, combine in
  let logits = linear(x[0], weight: x[1])
  let decision = deepSeekRouting(
    logits: logits, topK: 3, groups: 4, topGroups: 2, routeScale: 2.5, selectionBias: x[8].scalars)
  let routed = combine(x[0], decision.routing, stackedExperts(gate: x[2], up: x[4], down: x[3], .swiglu))
  let shared = stackedExperts(
    gate: x[5].expandingDimensions(at: 0), up: x[7].expandingDimensions(at: 0), down: x[6].expandingDimensions(at: 0),
    .swiglu)[0]
  let top = withoutGradients { decision.scores.topK(3, axis: 1).indices.values }
  var counts = [Int](repeating: 0, count: 16)
  for e in top { counts[e] += 1 }
  let loss = sequenceBalanceLoss(scores: decision.scores.expandingDimensions(at: 0), counts: [counts], topK: 3)
  return [routed + shared(x[0]), logits, decision.selection.asTensor, loss]
}

// MARK: - Dispatch and layers

/// Options for a test layer of mixture `kind` with `experts` experts, `topK` per token (expert
/// choice: the capacity factor; Switch: top-1 at a capacity that drops tokens), hidden width 12 or
/// one width per expert (top-k then also with a capacity that drops pairs); nil where the kind
/// has no such configuration.
func mixtureOptions(_ kind: String, experts: Int, topK: Int, varyWidths: Bool = false) -> [String: JSONValue]? {
  var options: [String: JSONValue] = ["experts": .number(Double(experts))]
  if varyWidths {
    options["hiddenWidths"] = .array((0..<experts).map { .number(Double(8 + 3 * ($0 % 4))) })
  } else {
    options["hidden"] = 12
  }
  switch kind {
  case "moe-topk":
    options["topK"] = .number(Double(topK))
    if varyWidths {  // with a capacity that drops pairs
      options["capacityFactor"] = 0.75
      options["minimumCapacity"] = 1
    }
  case "moe-switch":
    guard topK == 1 else { return nil }
    options["capacityFactor"] = 0.75
    options["minimumCapacity"] = 1
  case "moe-expert-choice":
    options["capacityFactor"] = .number(Double(topK))
  case "moe-deepseek":
    let groups = experts == 1 ? 1 : experts == 4 ? 2 : experts == 16 ? 4 : 8
    let topGroups = Swift.max(1, groups / 2)
    guard topK <= topGroups * (experts / groups) else { return nil }
    options["topK"] = .number(Double(topK))
    options["groups"] = .number(Double(groups))
    options["topGroups"] = .number(Double(topGroups))
    options["sharedExperts"] = 1
  default:
    return nil
  }
  return options
}

let mixtureKinds = Zoo.families.entries.filter { $0.slot == .channel && $0.capabilities.contains(.dataDependentCost) }
  .map(\.kind)

@Suite("Mixtures of experts")
struct MixtureOfExpertsTests {
  @Test("the four routers are registered in the channel slot")
  func registered() {
    #expect(Set(mixtureKinds) == ["moe-topk", "moe-switch", "moe-expert-choice", "moe-deepseek"])
  }

  /// The grouped dispatch against the loop over tokens and experts, through the layer (router,
  /// losses aside): the output and the gradient of every parameter and of the input, for E ∈ {1,
  /// 4, 16, 64} and k ∈ {1, 2, 4}, 3 sequences of 13 tokens (39: a multiple of nothing here),
  /// equal and unequal expert widths. Relative RMS error ≤ 1e-5 (outputs), ≤ 1e-4 (gradients).
  /// Also checks that the configurations include an expert with no token (token choice) and a
  /// token with no expert (Switch, expert choice).
  @Test("grouped dispatch = the loop over tokens and experts: outputs and every gradient", arguments: mixtureKinds)
  func dispatchMatchesLoop(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    var sawIdleExpert = false, sawUnroutedToken = false
    for experts in [1, 4, 16, 64] {
      for topK in [1, 2, 4] where topK <= experts {
        for vary in [false, true] {
          guard var options = mixtureOptions(kind, experts: experts, topK: topK, varyWidths: vary) else { continue }
          var data = RandomGenerator(seed: UInt64(experts * 10 + topK))
          let x = data.normal([3, 13, 16], standardDeviation: 0.7), g = data.normal([3, 13, 16])
          options["form"] = try JSONValue(encoding: Form.parallel)
          var rng = RandomGenerator(seed: 5)
          let grouped = try entry.make(options, width: 16, generator: &rng)
          options["form"] = try JSONValue(encoding: Form.reference)
          rng = RandomGenerator(seed: 5)
          let loop = try entry.make(options, width: 16, generator: &rng)
          let (o1, g1) = outputAndGradients(grouped, x, cotangent: g)
          let (o0, g0) = outputAndGradients(loop, x, cotangent: g)
          let label = "\(kind) E \(experts) k \(topK)\(vary ? " varied widths" : "")"
          expectAgree([o1], [o0], tolerance: 1e-5, absolute: 1e-7, "\(label): output")
          #expect(Set(g1.keys) == Set(g0.keys))
          for name in g0.keys.sorted() {
            expectAgree([g1[name]!], [g0[name]!], tolerance: 1e-4, absolute: 1e-7, "\(label): ∂\(name)")
          }
          var context = ForwardContext()
          _ = grouped(x, &context)
          let load = try #require(context.statistics.first { $0.name == "expert_load" }).values
          sawIdleExpert = sawIdleExpert || load.contains(0)
          let unrouted = try #require(context.statistics.first { $0.name == "unrouted_token_rate" }).values[0]
          sawUnroutedToken = sawUnroutedToken || unrouted > 0
        }
      }
    }
    if kind != "moe-expert-choice" {  // every expert takes its capacity by construction
      #expect(sawIdleExpert, "\(kind): no configuration left an expert without tokens")
    }
    if kind == "moe-switch" || kind == "moe-expert-choice" {
      #expect(sawUnroutedToken, "\(kind): no configuration left a token without an expert")
    }
  }

  /// The dispatch's bits do not depend on the thread count: forward and backward of every
  /// router on 1 and on 2 threads, compared bit for bit.
  @Test("bit-identical on 1 and 2 threads", arguments: mixtureKinds)
  func threadCountDoesNotMatter(_ kind: String) throws {
    let entry = Zoo.families[kind]!
    let options = mixtureOptions(kind, experts: 16, topK: kind == "moe-switch" ? 1 : 2)!
    var rng = RandomGenerator(seed: 9)
    let layer = try entry.make(options, width: 64, generator: &rng)
    let x = rng.normal([2, 200, 64]), g = rng.normal([2, 200, 64])
    let one = Runtime.withThreadCount(1) { outputAndGradients(layer, x, cotangent: g) }
    let two = Runtime.withThreadCount(2) { outputAndGradients(layer, x, cotangent: g) }
    #expect(one.0.scalars == two.0.scalars, "\(kind): outputs differ between 1 and 2 threads")
    for name in one.1.keys.sorted() {
      #expect(one.1[name]!.scalars == two.1[name]!.scalars, "\(kind): ∂\(name) differs between 1 and 2 threads")
    }
  }

  @Test("a causal model refuses expert-choice routing, saying why")
  func expertChoiceIsNotCausal() throws {
    var rng = RandomGenerator(seed: 1)
    #expect {
      _ = try LanguageModel(pattern: "attn|moe-expert-choice", vocabulary: 10, width: 16, generator: &rng)
    } throws: { error in
      let message = "\(error)"
      return message.contains("stages[0].blocks[0].channel.kind") && message.contains("later tokens")
    }
    let spec = try ModelSpec(
      pattern: "attn|moe-expert-choice", vocabulary: 10, width: 16, direction: .bidirectional,
      options: ["heads": 2])
    _ = try LanguageModel(spec, generator: &rng)
  }

  /// Switch: tokens claim capacity in token order; the ones over capacity get zero expert output.
  @Test("Switch drops the tokens over capacity, in token order, to a zero output")
  func switchDropsInOrder() {
    // Every token prefers expert 1; capacity 2 per sequence of 5.
    let logits = Tensor([[0, 3], [0, 2], [0, 1], [0, 4], [0, 5], [5, 0], [0, 1], [0, 1], [0, 1], [0, 1]])
    let decision = switchRouting(logits: logits, capacity: 2, groups: 2)
    #expect(decision.routing.slotTokens == [5, 0, 1, 6, 7])
    #expect(decision.dropped == 5 && decision.demand == [1, 9])
    var rng = RandomGenerator(seed: 3)
    let experts = (0..<2).map { _ in ExpertFeedForward(width: 2, hidden: 3, activation: .relu, generator: &rng) }
    let x = rng.normal([10, 2])
    let o = dispatchExperts(x, decision.routing, experts: experts)
    for n in [2, 3, 4, 8, 9] { #expect(o.select(axis: 0, index: n).scalars == [0, 0], "token \(n)") }
  }

  /// Loss-free balancing: the bias moves by ±u toward balance after a step, only from training
  /// passes, and changes the selection but not the gate weights.
  @Test("auxiliary-loss-free balancing moves the bias by ±u toward balance, outside the gradient")
  func lossFreeBalancing() throws {
    var options = TokenChoiceLayer.Options()
    options.experts = 4
    options.topK = 1
    options.biasUpdateRate = 0.25
    options.loadBalanceWeight = 0
    var rng = RandomGenerator(seed: 2)
    let layer = TokenChoiceLayer(options, width: 8, generator: &rng)
    let x = rng.normal([1, 40, 8])
    var evaluation = ForwardContext()
    _ = layer(x, &evaluation)
    layer.finishTrainingStep()
    #expect(layer.selectionBias == [0, 0, 0, 0], "an evaluation pass moved the bias")
    var training = ForwardContext(options: ForwardOptions(training: true))
    _ = layer(x, &training)
    let load = try #require(training.statistics.first { $0.name == "expert_load" }).values
    layer.finishTrainingStep()
    let mean = load.reduce(0, +) / 4
    for e in 0..<4 {
      let expected: Float = load[e] < mean ? 0.25 : load[e] > mean ? -0.25 : 0
      #expect(layer.selectionBias[e] == expected, "expert \(e): load \(load[e]), bias \(layer.selectionBias[e])")
    }
    // The bias is not a parameter.
    #expect(!layer.namedParameters().contains { $0.name.contains("bias") })
    // With a large bias on one expert every token goes there, at its unbiased gate weight.
    let logits = rng.normal([6, 4])
    let biased = tokenChoiceRouting(logits: logits, topK: 1, selectionBias: [0, 0, 100, 0])
    #expect(biased.routing.load == [0, 0, 6, 0])
    let plain = logits.softmax(axis: 1).select(axis: 1, index: 2)
    #expect(biased.routing.weights.scalars == [Float](repeating: 1, count: 6))  // renormalised over one expert
    let raw = tokenChoiceRouting(logits: logits, topK: 1, renormalize: false, selectionBias: [0, 0, 100, 0])
    #expect(raw.routing.weights.scalars == plain.scalars)
  }

  @Test("top-k → softmax gives Mixtral's renormalised softmax → top-k weights")
  func gateOrders() {
    var rng = RandomGenerator(seed: 8)
    let logits = rng.normal([33, 8], standardDeviation: 2)
    let a = tokenChoiceRouting(logits: logits, topK: 3, gate: .softmaxTopK)
    let b = tokenChoiceRouting(logits: logits, topK: 3, gate: .topKSoftmax)
    #expect(a.selection == b.selection)
    #expect(a.routing.weights.relativeError(to: b.routing.weights) < 1e-6)
  }

  /// Freezing all experts but one: after training steps the others' weights, and so their
  /// outputs, are bit-identical; the trained expert and the router moved.
  @Test("training one expert leaves the others bit-identical")
  func freezingExperts() throws {
    var rng = RandomGenerator(seed: 6)
    let model = try LanguageModel(
      pattern: "attn|moe-topk", vocabulary: 24, width: 16, options: ["heads": 2, "experts": 4, "hidden": 8],
      generator: &rng)
    let before = model.parameters()
    let frozen = model.namedParameters().map(\.name).filter {
      !$0.hasPrefix("layers.0.channel.experts.1.") && !$0.hasPrefix("layers.0.channel.router.")
    }
    let optimizer = AdamW(learningRate: 0.01, weightDecay: 0.1)
    optimizer.isFrozen = { frozen.contains($0) }
    for step in 0..<3 {
      var data = RandomGenerator(seed: UInt64(step))
      let tokens = data.integers([2, 12], in: 0..<24)
      let (_, gradients) = valueAndGradient(of: model) {
        Objective.nextToken.loss($0, inputs: tokens, targets: tokens).total
      }
      optimizer.update(model, gradients: gradients)
    }
    let after = model.parameters()
    for name in frozen { #expect(after[name]!.scalars == before[name]!.scalars, "\(name) moved") }
    #expect(
      after["layers.0.channel.experts.1.up.weight"]!.scalars != before["layers.0.channel.experts.1.up.weight"]!.scalars)
  }

  /// The statistics of a forward pass: loads summing to the slots, rates and entropy in range.
  @Test("routing statistics in the model output")
  func statistics() throws {
    var rng = RandomGenerator(seed: 7)
    let attention = MixerSpec.layer("attn", ["heads": 2])
    let spec = ModelSpec(
      vocabulary: 30, width: 16,
      stages: [
        StageSpec(blocks: [
          BlockSpec(
            mixer: attention,
            channel: .layer(
              "moe-switch", ["experts": 4, "hidden": 8, "capacityFactor": 0.5, "minimumCapacity": 1])),
          BlockSpec(mixer: attention, channel: .layer("moe-topk", ["experts": 4, "hidden": 8])),
        ])
      ])
    let model = try LanguageModel(spec, generator: &rng)
    let tokens = rng.integers([2, 16], in: 0..<30)
    let output = model.forward(tokens)
    func stat(_ name: String, _ layer: String) throws -> [Double] {
      try #require(output.statistics.first { $0.name == name && $0.layer == layer }, "\(name) of \(layer)").values
    }
    let switchLoad = try stat("expert_load", "layers.0.channel")
    #expect(switchLoad.count == 4 && switchLoad.allSatisfy { $0 <= 2 * 2 })  // capacity 2 per sequence
    let dropped = try stat("dropped_token_rate", "layers.0.channel")[0]
    #expect(abs(dropped - (1 - switchLoad.reduce(0, +) / 32)) < 1e-12)
    let topLoad = try stat("expert_load", "layers.1.channel")
    #expect(topLoad.reduce(0, +) == 2 * 32)
    let entropy = try stat("router_entropy", "layers.1.channel")[0]
    #expect(entropy > 0 && entropy <= Foundation.log(4.0) + 1e-9)
    let violation = try stat("max_load_violation", "layers.1.channel")[0]
    #expect(abs(violation - (topLoad.max()! / (64.0 / 4) - 1)) < 1e-12)
    #expect(output.auxiliaryLosses.map(\.name) == ["load_balance", "load_balance"])
  }

  /// Dropless token-choice routing decides per token, so a model decodes token by token as its
  /// parallel logits (1e-5 relative RMS). (With a capacity, a sequence's tokens compete for slots
  /// that a token decoded alone never lacks: there decoding equals the parallel form only where
  /// nothing was dropped.)
  /// The one-pass row statistics against their definitions: each row normalised, its entropy in
  /// nats averaged over rows (1e-12 relative), and the first highest column (exactly, with ties
  /// planted); the same on 1 and 2 threads.
  @Test("router row statistics: mean entropy of the normalised rows and each row's top expert")
  func routerRowStatisticsMatchDefinitions() {
    var rng = RandomGenerator(seed: 31)
    var values = rng.uniform([300, 13], low: 0, high: 1).scalars
    for n in stride(from: 0, to: 300, by: 7) { values[n * 13 + 9] = values[n * 13 + 2] + 1 }  // ties: 2 and 9 …
    for n in stride(from: 0, to: 300, by: 7) { values[n * 13 + 2] = values[n * 13 + 9] }  // … equal, both top
    for n in stride(from: 3, to: 300, by: 11) { values[n * 13 + 4] = 0 }  // zeros carry no entropy
    let scores = Tensor(values, shape: [300, 13])
    var entropy = 0.0
    var top: [Int] = []
    for n in 0..<300 {
      let row = Array(values[(n * 13)..<(n * 13 + 13)])
      let sum = row.reduce(0, +)
      for q in row.map({ $0 / sum }) where q > 0 { entropy -= Double(q) * Foundation.log(Double(q)) }
      top.append(row.firstIndex(of: row.max()!)!)
    }
    entropy /= 300
    for threads in [1, 2] {
      let (meanEntropy, picks) = Runtime.withThreadCount(threads) { routerRowStatistics(scores) }
      #expect(abs(meanEntropy - entropy) <= 1e-12 * entropy, "threads \(threads)")
      #expect(picks == top, "threads \(threads)")
    }
    #expect(top.filter { $0 == 2 }.count >= 40)
  }

  @Test("a model with token-choice mixtures decodes token by token as its parallel logits")
  func decoding() throws {
    for channel in ["moe-topk", "moe-deepseek"] {
      var rng = RandomGenerator(seed: 4)
      let model = try LanguageModel(
        pattern: "attn|\(channel),gla|\(channel)", vocabulary: 30, width: 16,
        options: ["heads": 2, "experts": 4, "hidden": 8, "groups": 2, "topGroups": 1, "topK": 2], generator: &rng)
      try expectDecodingMatchesParallel(model, &rng, channel)
    }
  }

  /// Router jitter multiplies the router's input by uniform noise in training passes only.
  @Test("router jitter applies to training passes only")
  func jitter() throws {
    var first = RandomGenerator(seed: 12), second = RandomGenerator(seed: 12)
    var options = TokenChoiceLayer.Options()
    options.experts = 4
    options.hidden = 8
    options.jitter = 0.5
    let noisy = TokenChoiceLayer(options, width: 8, generator: &first)
    options.jitter = 0
    let plain = TokenChoiceLayer(options, width: 8, generator: &second)
    let x = first.normal([2, 10, 8])
    var evaluation = ForwardContext()
    #expect(noisy(x, &evaluation).scalars == plain(x).scalars)
    var training = ForwardContext(options: ForwardOptions(training: true))
    #expect(noisy(x, &training).scalars != plain(x).scalars)
  }
}
