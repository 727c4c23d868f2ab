import Foundation
import TesseraCore
import TesseraNN
import TesseraZoo

/// `tessera bench moe`: a mixture-of-experts layer's forward and backward pass (every parameter's
/// gradient and the input's, the router's auxiliary loss included) against a dense SwiGLU layer
/// with the same active FLOPs per token, in paired rounds. Width 256, 4,096 tokens (quick: 1,024)
/// as one sequence; experts are SwiGLU of hidden width 512, so top-2 routing is matched by a dense
/// SwiGLU of width 1,024.
///
/// Per case: `ms` (median over rounds), `time_ratio` (median over rounds of the mixture's time ÷
/// the dense layer's in the same round), the counted forward GFLOP of both (the mixture's for the
/// routing of the timed pass), `flop_ratio`, and the routing's `max_load_violation`.
struct MixtureOfExpertsBench {
  let quick: Bool
  let filter: String?

  struct Case {
    let name: String
    let kind: String
    let options: [String: JSONValue]
    /// Experts run per token (the dense layer's width is this × the expert width).
    let activeExperts: Int
  }

  static let width = 256
  static let expertHidden = 512

  static var cases: [Case] {
    [8, 16, 64].map { experts in
      Case(
        name: "moe-topk E\(experts) top-2", kind: "moe-topk",
        options: ["experts": .number(Double(experts)), "topK": 2, "hidden": .number(Double(expertHidden))],
        activeExperts: 2)
    } + [
      Case(
        name: "moe-switch E8 top-1 dropless", kind: "moe-switch",
        options: [
          "experts": 8, "hidden": .number(Double(expertHidden)), "activation": "swiglu", "capacityFactor": .null,
        ],
        activeExperts: 1),
      Case(
        name: "moe-expert-choice E8 capacity factor 2", kind: "moe-expert-choice",
        options: ["experts": 8, "hidden": .number(Double(expertHidden)), "capacityFactor": 2], activeExperts: 2),
      Case(
        name: "moe-deepseek E64 top-6 + 2 shared (hidden 128)", kind: "moe-deepseek",
        options: ["experts": 64, "topK": 6, "groups": 8, "topGroups": 4, "sharedExperts": 2, "hidden": 128],
        activeExperts: 2),
    ]
  }

  /// Forward and backward of `layer` on `x` with cotangent `g`: the gradient of every parameter
  /// and of `x`, the layer's auxiliary losses added to the objective.
  static func step(_ layer: any LayerFamily, _ x: Tensor, _ g: Tensor) {
    _ = valueAndGradient(of: layer, at: x) { layer, x in
      var context = ForwardContext(options: ForwardOptions(training: true))
      let objective = (layer(x, &context) * g).sum()
      return context.auxiliaryLosses.reduce(objective) { $0 + $1.value * $1.weight }
    }
  }

  func run() {
    let tokens = quick ? 1024 : 4096
    let rounds = quick ? 3 : 7
    let shape = "N\(tokens) D\(Self.width)"
    for c in Self.cases where filter.map({ "\(shape) \(c.name)".contains($0) }) ?? true {
      var rng = RandomGenerator(seed: 0)
      let layer = try! Zoo.families[c.kind]!.make(c.options, width: Self.width, generator: &rng)
      let dense = SwiGLU(Self.width, hidden: c.activeExperts * Self.expertHidden, generator: &rng)
      let x = rng.normal([1, tokens, Self.width]), g = rng.normal([1, tokens, Self.width])
      let paired = BenchReport.paired(
        rounds: rounds,
        { BenchReport.time(budget: 0, minimumRepeats: 1) { Self.step(layer, x, g) } },
        { BenchReport.time(budget: 0, minimumRepeats: 1) { Self.step(dense, x, g) } })
      var context = ForwardContext()
      _ = withoutGradients { layer(x, &context) }
      let counted = layer.cost(batch: 1, time: tokens)
      let denseFlops = dense.cost(batch: 1, time: tokens).flops
      let violation = context.statistics.first { $0.name == "max_load_violation" }?.values.first ?? 0
      let extra = paired.spread(rounds: rounds).merging([
        "layer": BenchReport.json(c.name), "dense_ms": String(format: "%.2f", paired.second * 1e3),
        "active_parameters": "\(counted.activeParameters ?? 0)", "parameters": "\(counted.parameters ?? 0)",
      ]) { a, _ in a }
      BenchReport.emit("moe_step", shape, metric: "ms", value: paired.first * 1e3, extra: extra)
      BenchReport.emit("moe_step", shape, metric: "time_ratio", value: paired.ratio, extra: extra)
      BenchReport.emit("moe_step", shape, metric: "gflop", value: Double(counted.flops) / 1e9, extra: extra)
      BenchReport.emit("moe_step", shape, metric: "dense_gflop", value: Double(denseFlops) / 1e9, extra: extra)
      BenchReport.emit(
        "moe_step", shape, metric: "flop_ratio", value: Double(counted.flops) / Double(denseFlops), extra: extra)
      BenchReport.emit("moe_step", shape, metric: "max_load_violation", value: violation, extra: extra)
    }
  }
}
